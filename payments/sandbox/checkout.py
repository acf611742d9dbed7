"""Sandbox checkout: the page behind a sandbox payment link, where the "customer" pays, declines
or lets the link expire. Each choice is reported to the service exactly as a real provider
would: a signed webhook to /api/v1/payments/webhook, retried until the service has it."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

import requests
from flask import Blueprint, current_app, render_template
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
)

from payments.config import Settings
from payments.extensions import db
from payments.models import Merchant, Payment
from payments.sandbox.links import read_link_token
from payments.services.provider_reports import sign_report

log = logging.getLogger(__name__)

blp = Blueprint("sandbox_checkout", __name__, url_prefix="/sandbox", template_folder="templates")

ACTIONS = {"pay": "finished", "decline": "failed", "expire": "expired"}
FIRST_TRY_TIMEOUT = 3.0
GIVE_UP_AFTER_SECONDS = 600


@dataclass(frozen=True)
class SendOutcome:
    state: str  # accepted | already | refused | pending
    code: int | None = None
    status: str | None = None
    message: str | None = None


@blp.get("/pay/<token>")
def checkout(token: str):
    """The checkout page of a sandbox payment link."""
    details = _details(token)
    if details is None:
        return render_template("sandbox/checkout_unknown.html"), 404
    # The sandbox shares the service's database: it shows names and whether the payment is
    # still open, which a real provider would know from its own records.
    payment = db.session.get(Payment, details["payment_id"])
    merchant_id = details.get("merchant_id")
    merchant = db.session.get(Merchant, merchant_id) if isinstance(merchant_id, int) else None
    return render_template(
        "sandbox/checkout.html",
        token=token,
        details=details,
        merchant_name=merchant.name if merchant else f"merchant #{merchant_id}",
        current_status=payment.status if payment else None,
        expires_at=payment.expires_at if payment else None,
    )


@blp.post("/pay/<token>/<action>")
def act(token: str, action: str):
    """Pay, decline or let expire: the provider reports the result to the service."""
    details = _details(token)
    if details is None or action not in ACTIONS:
        return render_template("sandbox/checkout_unknown.html"), 404
    report = ACTIONS[action]
    outcome = send_report(_settings(), details["payment_id"], report)
    return render_template(
        "sandbox/checkout_sent.html",
        token=token,
        report=report,
        payment_id=details["payment_id"],
        outcome=outcome,
    )


def send_report(settings: Settings, payment_id: int, report: str) -> SendOutcome:
    """One quick try in the request; if the service does not answer (or answers 5xx/429), a
    background thread keeps trying with backoff, as a provider's webhook queue would."""
    body = json.dumps({"payment_id": payment_id, "status": report}).encode()
    try:
        response = _post(settings, body, FIRST_TRY_TIMEOUT)
    except requests.RequestException:
        response = None
    if response is None or _should_retry(response):
        threading.Thread(
            target=_keep_trying, args=(settings, body), name="sandbox-report", daemon=True
        ).start()
        return SendOutcome("pending")
    return _interpret(response)


def _keep_trying(settings: Settings, body: bytes) -> None:
    retrying = Retrying(
        stop=stop_after_delay(GIVE_UP_AFTER_SECONDS),
        wait=wait_exponential(multiplier=0.5, max=30),
        retry=retry_if_exception_type(requests.RequestException) | retry_if_result(_should_retry),
        retry_error_callback=lambda state: None,
    )
    response = retrying(_post, settings, body, 10.0)
    if response is None:
        log.error("sandbox provider gave up reporting %s", body.decode())
    else:
        log.info("sandbox provider report delivered: HTTP %s", response.status_code)


def _post(settings: Settings, body: bytes, timeout: float) -> requests.Response:
    return requests.post(
        f"{settings.service_url.rstrip('/')}/api/v1/payments/webhook",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Internal-Signature": sign_report(settings.internal_webhook_secret, body),
        },
        timeout=timeout,
    )


def _should_retry(response: requests.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


def _interpret(response: requests.Response) -> SendOutcome:
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.ok and answer.get("message") == "already processed":
        return SendOutcome("already", response.status_code)
    if response.ok:
        return SendOutcome("accepted", response.status_code, status=answer.get("status"))
    return SendOutcome("refused", response.status_code, message=answer.get("message"))


def _details(token: str) -> dict | None:
    details = read_link_token(_settings().internal_webhook_secret, token)
    if not details or not isinstance(details.get("payment_id"), int):
        return None
    return details


def _settings() -> Settings:
    return current_app.extensions["payments_settings"]
