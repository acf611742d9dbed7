"""Actions on the outbox from outside the delivery loop: a merchant's redeliver request, the
operator's `outbox recover` and `outbox stats`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, not_, select, update

from payments import messaging
from payments.domain.statuses import ACTIVE_LOG_STATUSES, LogStatus
from payments.errors import PaymentNotFound
from payments.extensions import db
from payments.models import Payment, PaymentLog, utcnow
from payments.services.outbox import NOTIFICATION

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class OutboxStats:
    by_status: dict[str, int]
    due: int
    oldest_due_seconds: float | None


def redeliver_payment(merchant_id: int, payment_id: int) -> int:
    """Queue the payment's notifications again, delivered or failed; how many were queued.

    Another merchant's payment is "not found", exactly like an unknown one. A notification
    that a worker is delivering right now (live lease) is left to finish.
    """
    owned = (
        1 <= payment_id <= MAX_ID
        and db.session.scalar(
            select(Payment.id).where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
        )
        is not None
    )
    if not owned:
        db.session.rollback()
        raise PaymentNotFound()
    now = utcnow()
    in_flight = and_(PaymentLog.status == LogStatus.PROCESSING, PaymentLog.lease_expires_at > now)
    return _requeue(and_(PaymentLog.payment_id == payment_id, not_(in_flight)), now)


def recover_failed(since: datetime) -> int:
    """Queue again every LOG_FAILED notification that failed at or after `since`."""
    return _requeue(
        and_(PaymentLog.status == LogStatus.FAILED, PaymentLog.updated_at >= since), utcnow()
    )


def _requeue(condition: ColumnElement[bool], now: datetime) -> int:
    """Reset matching notification rows to pending, due now, with a fresh retry schedule;
    commit, then wake the notify actor for each (the sweep covers a refused send)."""
    log_ids = db.session.scalars(
        update(PaymentLog)
        .where(PaymentLog.event_type == NOTIFICATION, condition)
        .values(
            status=LogStatus.PENDING,
            attempts=0,
            next_retry_at=now,
            lease_token=None,
            lease_expires_at=None,
            message="queued again for delivery",
        )
        .returning(PaymentLog.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    for log_id in log_ids:
        messaging.send_notify(log_id)
    return len(log_ids)


def outbox_stats() -> OutboxStats:
    now = utcnow()
    counts = dict(
        db.session.execute(
            select(PaymentLog.status, func.count())
            .where(PaymentLog.event_type == NOTIFICATION)
            .group_by(PaymentLog.status)
        ).all()
    )
    due_filter = (
        PaymentLog.event_type == NOTIFICATION,
        PaymentLog.status.in_(ACTIVE_LOG_STATUSES),
        PaymentLog.next_retry_at <= now,
    )
    due, oldest = db.session.execute(
        select(func.count(), func.min(PaymentLog.next_retry_at)).where(*due_filter)
    ).one()
    db.session.rollback()
    oldest_seconds = (now - _aware(oldest)).total_seconds() if oldest is not None else None
    return OutboxStats(
        by_status={str(status): counts.get(status, 0) for status in LogStatus},
        due=due,
        oldest_due_seconds=oldest_seconds,
    )


def _aware(value: datetime) -> datetime:
    # func.min() bypasses the column type on SQLite, which hands back a naive UTC value.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)
