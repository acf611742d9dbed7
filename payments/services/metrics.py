"""What the database says about the pipeline, read at scrape time: payments by status, merchant
notifications by status and attempts, the outbox backlog and how long its oldest due row has
waited. Every gunicorn worker answers the same, so these need no multiprocess aggregation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, or_, select, text

from payments.domain.statuses import ACTIVE_LOG_STATUSES, EventType
from payments.extensions import db
from payments.models import Payment, PaymentLog, utcnow

# A scrape must never hold up the database: past this it fails and says so (database_up 0).
STATEMENT_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class PipelineSnapshot:
    payments_by_status: dict[str, int] = field(default_factory=dict)
    notifications_by_status: dict[str, int] = field(default_factory=dict)
    # Delivery attempts over every notification, and how many notifications needed more than one.
    notification_attempts: int = 0
    notifications_retried: int = 0
    # Notifications still owed to a merchant (pending, retrying or being delivered).
    outbox_backlog: int = 0
    # Seconds since the longest-waiting due notification became due; 0 when none is due.
    oldest_due_age_seconds: float = 0.0


def pipeline_snapshot(now: datetime | None = None) -> PipelineSnapshot:
    """Three aggregate queries in one read-only transaction, bounded by a statement timeout."""
    now = now or utcnow()
    session = db.session
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        payments = dict(
            session.execute(select(Payment.status, func.count()).group_by(Payment.status)).all()
        )
        notifications, attempts, retried = _notification_counts()
        oldest_due = _oldest_due(now)
    finally:
        session.rollback()
    backlog = sum(notifications.get(status, 0) for status in ACTIVE_LOG_STATUSES)
    return PipelineSnapshot(
        payments_by_status=payments,
        notifications_by_status=notifications,
        notification_attempts=attempts,
        notifications_retried=retried,
        outbox_backlog=backlog,
        oldest_due_age_seconds=max((now - oldest_due).total_seconds(), 0.0) if oldest_due else 0.0,
    )


def _notification_counts() -> tuple[dict[str, int], int, int]:
    rows = db.session.execute(
        select(
            PaymentLog.status,
            func.count(),
            func.coalesce(func.sum(PaymentLog.attempts), 0),
            func.coalesce(func.sum(case((PaymentLog.attempts > 1, 1), else_=0)), 0),
        )
        .where(PaymentLog.event_type == EventType.MERCHANT_NOTIFICATION)
        .group_by(PaymentLog.status)
    ).all()
    by_status = {status: int(count) for status, count, _, _ in rows}
    return by_status, sum(int(row[2]) for row in rows), sum(int(row[3]) for row in rows)


def _oldest_due(now: datetime) -> datetime | None:
    """Due: still owed and its next try (or, while claimed, its lease end) has passed. A row
    without a next try is due since it was written. Served by the partial index of due rows."""
    due_since = func.coalesce(PaymentLog.next_retry_at, PaymentLog.created_at)
    return db.session.scalar(
        select(func.min(due_since)).where(
            PaymentLog.event_type == EventType.MERCHANT_NOTIFICATION,
            PaymentLog.status.in_(ACTIVE_LOG_STATUSES),
            or_(PaymentLog.next_retry_at.is_(None), PaymentLog.next_retry_at <= now),
        )
    )
