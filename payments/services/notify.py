"""Deliver one merchant notification: take the lease, call the merchant with no transaction or
row lock held, then write the outcome only if the lease is still ours."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from payments import messaging
from payments.config import Settings
from payments.domain.delivery_policy import Verdict, judge, max_attempts, retry_delay
from payments.domain.statuses import LogStatus
from payments.models import utcnow
from payments.services import outbox
from payments.services.delivery import (
    DeliveryResult,
    longest_attempt_seconds,
    post_notification,
)

log = logging.getLogger(__name__)


def deliver_notification(
    settings: Settings, log_id: int, lease_token: str | None = None
) -> LogStatus | None:
    """One attempt. Returns the row's new status, or None when there was nothing for us to do
    (already delivered, not due, leased to someone else, or taken over meanwhile)."""
    job = outbox.start_attempt(settings, log_id, lease_token)
    if job is None:
        return None
    schedule = settings.notify_retry_schedule
    if job.attempts > max_attempts(schedule):
        # Counted at the start of an attempt, so only a worker lost mid-attempt gets here.
        result = DeliveryResult(None, "the worker was lost during the last attempt", None, 0, 0)
        status, next_at, message = LogStatus.FAILED, None, "failed: no attempt left"
    else:
        result = _attempt(settings, job)
        status, next_at, message = decide(schedule, job.attempts, result)
    written = outbox.finish_attempt(
        job,
        status,
        message,
        response_code=result.status_code,
        error=result.error,
        next_retry_at=next_at,
    )
    _log_attempt(job, result, status if written else "lease_lost", next_at)
    return status if written else None


def deliver_leased_batch(
    settings: Settings, log_ids: list[int], lease_token: str, time_limit: float
) -> int:
    """One attempt for each of the rows a sweep leased together under `lease_token`, in turn;
    each lease is renewed (and checked) as its own attempt starts, so one row is never delivered
    by two workers at once. Another attempt starts only while even the slowest one would end
    within `time_limit` (the message's); the rows left then go back to the queue as a new
    message (if that send fails, their leases run out and a later sweep claims them). Returns
    how many rows were attempted here.

    One message for many rows: the sweep's backlog costs one broker round trip and one
    message's worth of worker overhead per batch instead of per row."""
    started = time.monotonic()
    latest_start = time_limit - longest_attempt_seconds(settings.notify_timeout_seconds)
    for index, log_id in enumerate(log_ids):
        if index and time.monotonic() - started > latest_start:
            messaging.send_notify_batch(log_ids[index:], lease_token)
            return index
        deliver_notification(settings, log_id, lease_token)
    return len(log_ids)


def decide(
    schedule: tuple[int, ...], attempts: int, result: DeliveryResult
) -> tuple[LogStatus, datetime | None, str]:
    """(new status, next attempt time, timeline message) after attempt number `attempts`."""
    verdict = judge(result.status_code)
    if verdict is Verdict.DELIVERED:
        return LogStatus.SUCCESS, None, f"delivered: HTTP {result.status_code}, attempt {attempts}"
    if verdict is Verdict.GONE:
        return (
            LogStatus.FAILED,
            None,
            f"stopped: the merchant answered 410 Gone, attempt {attempts}",
        )
    delay = retry_delay(schedule, attempts, result.retry_after)
    if delay is None:
        return LogStatus.FAILED, None, f"failed after {attempts} attempts: {result.error}"
    next_at = utcnow() + timedelta(seconds=delay)
    return (
        LogStatus.RETRYING,
        next_at,
        f"attempt {attempts} failed ({result.error}); next attempt at {next_at.isoformat()}",
    )


def _attempt(settings: Settings, job: outbox.DeliveryJob) -> DeliveryResult:
    url = job.callback_url or settings.merchant_callback_url
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        # A merchant row holding file://, gopher://... is never followed, whatever the HTTP
        # library would do with it; the tracking says why (an operator fixes it, redelivers).
        return DeliveryResult(None, "callback URL refused: only http(s) is allowed", None, 0, 0)
    try:
        return post_notification(
            url,
            job.webhook_secret,
            job.webhook_id,
            job.payload,
            job.request_id,
            settings.notify_timeout_seconds,
            previous_secret=job.previous_webhook_secret,
        )
    except Exception as exc:  # e.g. a malformed merchant secret: retried on schedule, visible
        log.exception("notification %s could not be sent", job.log_id)
        return DeliveryResult(None, f"could not send: {type(exc).__name__}", None, 0, 0)


def _log_attempt(job: outbox.DeliveryJob, result: DeliveryResult, outcome, next_at) -> None:
    log.info(
        "merchant notification attempt",
        extra={
            "log_id": job.log_id,
            "payment_id": job.payment_id,
            "webhook_id": job.webhook_id,
            "attempt": job.attempts,
            "tries": result.tries,
            "response_code": result.status_code,
            "error": result.error,
            "outcome": str(outcome),
            "next_retry_at": next_at.isoformat() if next_at else None,
            "duration_ms": result.duration_ms,
        },
    )
