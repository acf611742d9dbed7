"""The outbox: merchant-notification rows of `payment_logs` and the leases that hand one row to
one worker at a time.

Life of a row: LOG_PENDING (written with the status change it announces) -> LOG_PROCESSING
(claimed: a lease token, `next_retry_at` = lease end) -> LOG_SUCCESS | LOG_RETRYING (due again
at `next_retry_at`) | LOG_FAILED. A row whose worker died stays PROCESSING only until its lease
runs out: since `next_retry_at` is the lease end, the sweep's one indexed range query
(`ix_payment_logs_due`) finds it again together with the rows due for a retry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update

from payments.config import Settings
from payments.domain.money import format_money
from payments.domain.statuses import ACTIVE_LOG_STATUSES, EventType, LogStatus, PaymentStatus
from payments.domain.transitions import notification_type
from payments.extensions import db
from payments.models import Merchant, Payment, PaymentLog, utcnow
from payments.services.timeline import record_event

NOTIFICATION = EventType.MERCHANT_NOTIFICATION


@dataclass(frozen=True)
class Lease:
    log_id: int
    token: str


@dataclass(frozen=True)
class DeliveryJob:
    """Everything one delivery attempt needs, read while the lease was taken."""

    log_id: int
    payment_id: int
    lease_token: str
    attempts: int
    webhook_id: str
    request_id: str | None
    payload: dict[str, Any]
    callback_url: str | None
    webhook_secret: str


def add_notification(payment: Payment, at: datetime, request_id: str | None = None) -> PaymentLog:
    """Queue the notification of the payment's (final) status in the current transaction.

    It carries the current request's id (the provider report that caused it) unless
    `request_id` names another (the sweep has no request of its own).
    """
    payload = notification_payload(payment, at)
    entry = record_event(
        payment.id,
        NOTIFICATION,
        f"{payload['type']} queued for the merchant",
        payload,
        status=LogStatus.PENDING,
    )
    entry.webhook_id = "msg_" + uuid.uuid4().hex
    entry.request_id = request_id or entry.request_id
    entry.next_retry_at = at
    return entry


def notification_payload(payment: Payment, at: datetime) -> dict[str, Any]:
    """SPEC section 5. Kept on the row, so every retry sends the same body."""
    status = PaymentStatus(payment.status)
    return {
        "type": notification_type(status),
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "merchant_id": payment.merchant_id,
        "status": str(status),
        "amount": format_money(payment.amount),
        "price": format_money(payment.price),
        "currency": payment.currency,
        "timestamp": at.isoformat(),
    }


def claim_due(settings: Settings, limit: int, now: datetime | None = None) -> list[Lease]:
    """Lease up to `limit` due rows (retries due, new rows, expired leases) and commit.

    SKIP LOCKED lets several sweeps claim at once without waiting for or overlapping each other.
    """
    now = now or utcnow()
    ids = db.session.scalars(
        select(PaymentLog.id)
        .where(
            PaymentLog.event_type == NOTIFICATION,
            PaymentLog.status.in_(ACTIVE_LOG_STATUSES),
            PaymentLog.next_retry_at <= now,
        )
        .order_by(PaymentLog.next_retry_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    leases = [Lease(log_id, str(uuid.uuid4())) for log_id in ids]
    if leases:
        lease_end = now + timedelta(seconds=settings.notify_lease_seconds)
        db.session.execute(
            update(PaymentLog),
            [
                {
                    "id": lease.log_id,
                    "status": LogStatus.PROCESSING,
                    "lease_token": lease.token,
                    "lease_expires_at": lease_end,
                    "next_retry_at": lease_end,
                }
                for lease in leases
            ],
        )
    db.session.commit()
    return leases


def start_attempt(settings: Settings, log_id: int, lease_token: str | None) -> DeliveryJob | None:
    """Take (or confirm) the lease for one attempt, count the attempt, and commit.

    With a token (sent by the sweep) the lease must still be ours; it is renewed so the whole
    lease covers the HTTP call. Without one (the fast path) the row is claimed here, but only
    when it is due. None: the row is done, not due, or someone else holds it.
    """
    now = utcnow()
    lease_end = now + timedelta(seconds=settings.notify_lease_seconds)
    token = lease_token or str(uuid.uuid4())
    claimed = db.session.execute(
        update(PaymentLog)
        .where(
            PaymentLog.id == log_id,
            PaymentLog.event_type == NOTIFICATION,
            _ours_to_take(lease_token, now),
        )
        .values(
            status=LogStatus.PROCESSING,
            lease_token=token,
            lease_expires_at=lease_end,
            next_retry_at=lease_end,
            attempts=PaymentLog.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    job = _load_job(log_id, token) if claimed == 1 else None
    db.session.commit()
    return job


def _ours_to_take(lease_token: str | None, now: datetime) -> ColumnElement[bool]:
    """A sweep's token must still be the row's; the fast path may take only a due row."""
    if lease_token:
        return and_(
            PaymentLog.status == LogStatus.PROCESSING, PaymentLog.lease_token == lease_token
        )
    return or_(
        and_(
            PaymentLog.status.in_((LogStatus.PENDING, LogStatus.RETRYING)),
            PaymentLog.next_retry_at <= now,
        ),
        and_(PaymentLog.status == LogStatus.PROCESSING, PaymentLog.lease_expires_at <= now),
    )


def _load_job(log_id: int, token: str) -> DeliveryJob:
    row = db.session.execute(
        select(PaymentLog, Merchant.callback_url, Merchant.webhook_secret)
        .join(Payment, Payment.id == PaymentLog.payment_id)
        .join(Merchant, Merchant.id == Payment.merchant_id)
        .where(PaymentLog.id == log_id)
        .execution_options(populate_existing=True)
    ).one()
    entry, callback_url, secret = row
    return DeliveryJob(
        log_id=entry.id,
        payment_id=entry.payment_id,
        lease_token=token,
        attempts=entry.attempts,
        webhook_id=entry.webhook_id or f"msg_log_{entry.id}",
        request_id=entry.request_id,
        payload=dict(entry.payload or {}),
        callback_url=callback_url,
        webhook_secret=secret,
    )


def finish_attempt(
    job: DeliveryJob,
    status: LogStatus,
    message: str,
    *,
    response_code: int | None,
    error: str | None,
    next_retry_at: datetime | None,
) -> bool:
    """Write an attempt's outcome, only if the lease is still ours (False: it was taken over)."""
    written = db.session.execute(
        update(PaymentLog)
        .where(
            PaymentLog.id == job.log_id,
            PaymentLog.status == LogStatus.PROCESSING,
            PaymentLog.lease_token == job.lease_token,
        )
        .values(
            status=status,
            message=message,
            last_response_code=response_code,
            last_error=error,
            next_retry_at=next_retry_at,
            lease_token=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return written == 1
