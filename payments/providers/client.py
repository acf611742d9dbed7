"""The provider client: `POST {base}/payment-links`, inside one time budget, retries included.

One pooled `requests.Session` per process (connections are reused across requests). The budget
is a deadline: every try gets only the time that is left, and tenacity stops retrying when the
next wait plus a minimal try would not fit. Connection errors and 5xx are retried (the call is
idempotent by its `Idempotency-Key: payment-<id>` header); any other answer is final.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from payments.outbound import pooled_session, proxies_for
from payments.request_id import HEADER as REQUEST_ID_HEADER

MAX_ATTEMPTS = 4
# A try with less time than this left is not worth starting.
MIN_TRY_SECONDS = 0.05
MAX_URL_LENGTH = 2048
ACCEPTED_STATUSES = (200, 201)


@dataclass(frozen=True)
class LinkRequest:
    """What SPEC section 4 sends; amounts are already decimal strings."""

    payment_id: int
    merchant_id: int
    provider: str
    order_id: int
    amount: str
    price: str
    currency: str

    def as_json(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "merchant_id": self.merchant_id,
            "provider": self.provider,
            "order_id": self.order_id,
            "amount": self.amount,
            "price": self.price,
            "currency": self.currency,
        }


@dataclass(frozen=True)
class ProviderLink:
    payment_url: str
    expires_at: datetime | None  # None: the provider did not say
    attempts: int
    status_code: int


class ProviderCallFailed(Exception):
    """`unreachable`: no answer within the budget; `error`: an answer we cannot use."""

    def __init__(
        self, kind: str, detail: str, *, attempts: int, status_code: int | None = None
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.attempts = attempts
        self.status_code = status_code


class _ServerError(Exception):
    """A 5xx answer: retried like a connection error, reported as a provider error."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"provider answered HTTP {status_code}")
        self.status_code = status_code


class _BudgetSpent(Exception):
    pass


_RETRYABLE = (requests.ConnectionError, requests.Timeout, _ServerError)

_session_lock = threading.Lock()
_session: tuple[int, requests.Session] | None = None


def provider_session() -> requests.Session:
    """The process's pooled session (a forked worker makes its own: sockets are not shared)."""
    global _session
    with _session_lock:
        if _session is None or _session[0] != os.getpid():
            _session = (os.getpid(), pooled_session(pool_maxsize=64))
        return _session[1]


def request_payment_link(
    base_url: str, link_request: LinkRequest, *, budget_seconds: float, request_id: str | None
) -> ProviderLink:
    """Ask the provider for a payment link; ProviderCallFailed on any failure."""
    deadline = time.monotonic() + budget_seconds
    url = base_url.rstrip("/") + "/payment-links"
    headers = {"Idempotency-Key": f"payment-{link_request.payment_id}"}
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    retrying = Retrying(
        retry=retry_if_exception_type(_RETRYABLE),
        stop=stop_after_attempt(MAX_ATTEMPTS) | _out_of_budget(deadline),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
        reraise=True,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                response = _one_try(url, link_request.as_json(), headers, deadline)
    except _ServerError as exc:
        raise ProviderCallFailed(
            "error", str(exc), attempts=attempts, status_code=exc.status_code
        ) from None
    except (requests.ConnectionError, requests.Timeout, _BudgetSpent) as exc:
        detail = f"no answer within {budget_seconds:g}s: {type(exc).__name__}"
        raise ProviderCallFailed("unreachable", detail, attempts=attempts) from None
    except requests.RequestException as exc:  # e.g. an invalid URL on the provider row
        raise ProviderCallFailed(
            "unreachable", f"{type(exc).__name__}: {exc}"[:300], attempts=attempts
        ) from None
    return _parse_link(response, attempts)


def _out_of_budget(deadline: float):
    def stop(retry_state: RetryCallState) -> bool:
        return deadline - time.monotonic() - retry_state.upcoming_sleep < MIN_TRY_SECONDS

    return stop


def _one_try(url: str, body: dict, headers: dict, deadline: float) -> requests.Response:
    remaining = deadline - time.monotonic()
    if remaining < MIN_TRY_SECONDS:
        raise _BudgetSpent()
    # requests' read timeout bounds each wait for bytes, so a provider answering in time but
    # byte by byte could overrun; providers answer small bodies at once, and the budget still
    # bounds every wait.
    response = provider_session().post(
        url, json=body, headers=headers, timeout=remaining, proxies=proxies_for(url)
    )
    if response.status_code >= 500:
        response.close()
        raise _ServerError(response.status_code)
    return response


def _parse_link(response: requests.Response, attempts: int) -> ProviderLink:
    status = response.status_code

    def fail(detail: str) -> ProviderCallFailed:
        return ProviderCallFailed("error", detail, attempts=attempts, status_code=status)

    if status not in ACCEPTED_STATUSES:
        raise fail(f"provider answered HTTP {status}")
    try:
        body = response.json()
    except ValueError:
        raise fail("provider answer is not JSON") from None
    if not isinstance(body, dict):
        raise fail("provider answer is not a JSON object")
    payment_url = body.get("payment_url")
    if (
        not isinstance(payment_url, str)
        or not payment_url.startswith(("http://", "https://"))
        or len(payment_url) > MAX_URL_LENGTH
    ):
        raise fail("provider answer has no usable payment_url")
    expires_at = body.get("expires_at")
    if expires_at is not None:
        expires_at = _parse_time(expires_at)
        if expires_at is None:
            raise fail("provider answer has an unreadable expires_at")
    return ProviderLink(payment_url, expires_at, attempts, status)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A time without a zone is read as UTC, the zone SPEC uses everywhere.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
