"""One delivery attempt of a merchant notification over HTTP: Standard Webhooks signing, a
connection pool, and a few quick retries (tenacity) for failures that may pass in a moment.

The connections are payments/outbound.py's pooled urllib3 ones (the environment's proxy and
trust store, read once).

No database here: the caller holds no transaction or row lock while the merchant answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from standardwebhooks.webhooks import Webhook
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from payments.domain.delivery_policy import is_quickly_retryable, parse_retry_after
from payments.fast_json import dumps_text
from payments.outbound import pool_for, root_cause, with_url_credentials

QUICK_TRIES = 3
# A Retry-After longer than this is left to the schedule instead of a quick retry.
QUICK_RETRY_AFTER_LIMIT = 1.0
USER_AGENT = "payments-webhooks/1"


def longest_attempt_seconds(timeout: float) -> float:
    """An upper bound of one attempt: every quick try timing out, with the longest waits."""
    return QUICK_TRIES * timeout + (QUICK_TRIES - 1) * max(QUICK_RETRY_AFTER_LIMIT, 1.0)


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None  # None: no answer (timeout, connection error)
    error: str | None
    retry_after: float | None
    tries: int
    duration_ms: int


def encode_body(payload: dict[str, Any]) -> str:
    return dumps_text(payload)


def signed_headers(
    secret: str,
    webhook_id: str,
    body: str,
    request_id: str | None,
    previous_secret: str | None = None,
) -> dict:
    """Standard Webhooks headers, signed now (every try gets a fresh timestamp). During a secret
    rotation `webhook-signature` holds a signature per secret, space-separated as the standard
    has it, and a merchant verifying with either secret accepts the notification."""
    now = datetime.now(UTC)
    signatures = [Webhook(secret).sign(webhook_id, now, body)]
    if previous_secret:
        signatures.append(Webhook(previous_secret).sign(webhook_id, now, body))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
    if request_id:
        headers["X-Request-Id"] = request_id
    return headers


def post_notification(
    url: str,
    secret: str,
    webhook_id: str,
    payload: dict[str, Any],
    request_id: str | None,
    timeout: float,
    previous_secret: str | None = None,
) -> DeliveryResult:
    """POST the notification; retried quickly on no answer, 429 and 5xx, then given up."""
    body = encode_body(payload)
    started = time.monotonic()
    tries = 0

    def one_try() -> tuple[int | None, str | None, float | None]:
        nonlocal tries
        tries += 1
        headers = signed_headers(secret, webhook_id, body, request_id, previous_secret)
        return _post_once(url, body, headers, timeout)

    status_code, error, retry_after = _QUICK_RETRIES(one_try)
    return DeliveryResult(
        status_code=status_code,
        error=error,
        retry_after=retry_after,
        tries=tries,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _worth_a_quick_retry(outcome: tuple[int | None, str | None, float | None]) -> bool:
    status_code, _error, retry_after = outcome
    if retry_after is not None and retry_after > QUICK_RETRY_AFTER_LIMIT:
        return False
    return is_quickly_retryable(status_code)


# Built once: a call keeps its attempt state in thread-local storage (tenacity's), so threads
# share it safely.
_QUICK_RETRIES = Retrying(
    stop=stop_after_attempt(QUICK_TRIES),
    wait=wait_exponential(multiplier=0.25, max=1.0),
    retry=retry_if_result(_worth_a_quick_retry),
    retry_error_callback=lambda state: state.outcome.result(),
    reraise=True,
)


def _post_once(url: str, body: str, headers: dict, timeout: float):
    """(status code, error text, Retry-After seconds). Errors name the failure, never the URL
    (it may carry credentials) and never the secret."""
    try:
        response = pool_for(url).request(
            "POST",
            url,
            body=body.encode("utf-8"),
            headers=with_url_credentials(url, headers),
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            redirect=False,
            retries=False,
        )
    except (NewConnectionError, ProtocolError, SSLError) as exc:
        # NewConnectionError first: urllib3 still derives it from ConnectTimeoutError.
        return None, f"connection error: {root_cause(exc)}", None
    except Urllib3Timeout:
        return None, f"timeout: no answer within {timeout:g}s", None
    except (HTTPError, ValueError) as exc:  # ValueError: e.g. a URL urllib3 cannot parse
        return None, f"request error: {type(exc).__name__}", None
    code = response.status
    error = None if 200 <= code < 300 else f"HTTP {code}"
    return code, error, parse_retry_after(response.headers.get("Retry-After"))
