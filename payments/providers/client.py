"""The provider client: `POST {base}/payment-links`, inside one time budget, retries included.

Through payments/outbound.py's pooled urllib3 connections (kept alive across requests). The
budget is a deadline: every try gets only the time that is left, and tenacity stops retrying
when the next wait plus a minimal try would not fit. Connection errors, timeouts and 5xx are
retried (the call is idempotent by its `Idempotency-Key: payment-<id>` header); any other
answer is final, a redirect included (a payment link is never created by following one).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from payments.fast_json import dumps
from payments.outbound import pool_for, root_cause, with_url_credentials
from payments.request_id import HEADER as REQUEST_ID_HEADER

MAX_ATTEMPTS = 4
# A try with less time than this left is not worth starting.
MIN_TRY_SECONDS = 0.05
MAX_URL_LENGTH = 2048
ACCEPTED_STATUSES = (200, 201)
USER_AGENT = "payments/1"


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


# NewConnectionError, ProtocolError and SSLError: no connection or a broken one; a timeout: no
# answer in time (urllib3 derives NewConnectionError from its timeout class too).
_NO_ANSWER = (NewConnectionError, ProtocolError, SSLError, Urllib3Timeout)
_RETRYABLE = (*_NO_ANSWER, _ServerError)


def request_payment_link(
    base_url: str, link_request: LinkRequest, *, budget_seconds: float, request_id: str | None
) -> ProviderLink:
    """Ask the provider for a payment link; ProviderCallFailed on any failure."""
    deadline = time.monotonic() + budget_seconds
    url = base_url.rstrip("/") + "/payment-links"
    body = dumps(link_request.as_json())
    headers = with_url_credentials(
        url,
        {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": f"payment-{link_request.payment_id}",
        },
    )
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    retrying = Retrying(
        retry=retry_if_exception_type(_RETRYABLE),
        stop=stop_after_attempt(MAX_ATTEMPTS) | _out_of_budget(deadline),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
        reraise=True,
    )
    attempts, answered = 0, None
    try:
        for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                try:
                    response = _one_try(url, body, headers, deadline)
                except _ServerError as exc:
                    answered = exc
                    raise
    except _ServerError as exc:
        raise ProviderCallFailed(
            "error", str(exc), attempts=attempts, status_code=exc.status_code
        ) from None
    except (*_NO_ANSWER, _BudgetSpent) as exc:
        detail = f"no answer within {budget_seconds:g}s: {root_cause(exc)}"
        if answered is not None:
            # It did answer, with an error, before the budget ran out on a retry: a provider
            # error (reachable, failing), not an unreachable provider.
            raise ProviderCallFailed(
                "error",
                f"{answered}, then {detail}",
                attempts=attempts,
                status_code=answered.status_code,
            ) from None
        raise ProviderCallFailed("unreachable", detail, attempts=attempts) from None
    except (HTTPError, ValueError) as exc:  # e.g. a URL on the provider row urllib3 cannot use
        # The type only: the message may quote the URL, and the detail reaches the merchant.
        detail = f"request error: {type(exc).__name__}"
        raise ProviderCallFailed("unreachable", detail, attempts=attempts) from None
    return _parse_link(response, attempts)


def _out_of_budget(deadline: float):
    def stop(retry_state: RetryCallState) -> bool:
        return deadline - time.monotonic() - retry_state.upcoming_sleep < MIN_TRY_SECONDS

    return stop


def _one_try(url: str, body: bytes, headers: dict, deadline: float) -> urllib3.BaseHTTPResponse:
    remaining = deadline - time.monotonic()
    if remaining < MIN_TRY_SECONDS:
        raise _BudgetSpent()
    # The read timeout bounds each wait for bytes, so a provider answering in time but byte by
    # byte could overrun; providers answer small bodies at once, and the budget still bounds
    # every wait.
    response = pool_for(url).request(
        "POST",
        url,
        body=body,
        headers=headers,
        timeout=urllib3.Timeout(connect=remaining, read=remaining),
        redirect=False,
        retries=False,
    )
    if response.status >= 500:
        raise _ServerError(response.status)
    return response


def _parse_link(response: urllib3.BaseHTTPResponse, attempts: int) -> ProviderLink:
    status = response.status

    def fail(detail: str) -> ProviderCallFailed:
        return ProviderCallFailed("error", detail, attempts=attempts, status_code=status)

    if status not in ACCEPTED_STATUSES:
        raise fail(f"provider answered HTTP {status}")
    try:
        body = json.loads(response.data)
    except ValueError:  # UnicodeDecodeError included
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
