"""What the database says about the pipeline, read when /metrics is scraped. Every gunicorn
worker reads the same rows, so these need no multiprocess aggregation.

Two reads with different costs:
- outbox_health: what an operator alerts on (backlog, age of the oldest due notification,
  failed notifications, pending payments). Each query is served by a partial index, so its
  cost follows the backlog, not the table: a few milliseconds.
- pipeline_totals: whole-table counts (payments by status, notifications by status, attempts).
  Linear in the tables (about 0.6 s for 500,000 payments on two busy cores), so the caller
  caches them and a timeout bounds them; when they fail, the health figures still come.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select, text

from payments.domain.statuses import ACTIVE_LOG_STATUSES, EventType, LogStatus, PaymentStatus
from payments.extensions import db
from payments.models import Payment, PaymentLog, utcnow

# A scrape must never hold up the database nor the scraper (Prometheus gives up after 10 s).
STATEMENT_TIMEOUT_MS = 2000

_NOTIFICATION = PaymentLog.event_type == EventType.MERCHANT_NOTIFICATION


@dataclass(frozen=True)
class OutboxHealth:
    # Notifications still owed to a merchant, by status (pending, retrying, being delivered).
    backlog_by_status: dict[str, int]
    failed_notifications: int
    # Seconds since the longest-waiting due notification became due; 0 when none is due.
    oldest_due_age_seconds: float
    pending_payments: int

    @property
    def backlog(self) -> int:
        return sum(self.backlog_by_status.values())


@dataclass(frozen=True)
class PipelineTotals:
    payments_by_status: dict[str, int]
    notifications_by_status: dict[str, int]
    # Delivery attempts over every notification, and how many needed more than one.
    notification_attempts: int
    notifications_retried: int


def outbox_health(now: datetime | None = None) -> OutboxHealth:
    now = now or utcnow()
    with _read_only():
        session = db.session
        backlog = session.execute(
            select(PaymentLog.status, func.count())
            .where(_NOTIFICATION, PaymentLog.status.in_(ACTIVE_LOG_STATUSES))
            .group_by(PaymentLog.status)
        ).all()
        failed = session.scalar(
            select(func.count()).where(_NOTIFICATION, PaymentLog.status == LogStatus.FAILED)
        )
        pending = session.scalar(
            select(func.count()).where(Payment.status == PaymentStatus.PENDING)
        )
        oldest_due = _oldest_due(now)
    return OutboxHealth(
        backlog_by_status={status: int(count) for status, count in backlog},
        failed_notifications=int(failed or 0),
        oldest_due_age_seconds=max((now - oldest_due).total_seconds(), 0.0) if oldest_due else 0.0,
        pending_payments=int(pending or 0),
    )


def pipeline_totals() -> PipelineTotals:
    with _read_only():
        payments = db.session.execute(
            select(Payment.status, func.count()).group_by(Payment.status)
        ).all()
        notifications = db.session.execute(
            select(
                PaymentLog.status,
                func.count(),
                func.coalesce(func.sum(PaymentLog.attempts), 0),
                func.coalesce(func.sum(case((PaymentLog.attempts > 1, 1), else_=0)), 0),
            )
            .where(_NOTIFICATION)
            .group_by(PaymentLog.status)
        ).all()
    return PipelineTotals(
        payments_by_status={status: int(count) for status, count in payments},
        notifications_by_status={status: int(count) for status, count, _, _ in notifications},
        notification_attempts=sum(int(row[2]) for row in notifications),
        notifications_retried=sum(int(row[3]) for row in notifications),
    )


def _oldest_due(now: datetime) -> datetime | None:
    """Due: still owed and its next try (or, while claimed, its lease end) has passed. A row
    without a next try is due since it was written."""
    due_since = func.coalesce(PaymentLog.next_retry_at, PaymentLog.created_at)
    return db.session.scalar(
        select(func.min(due_since)).where(
            _NOTIFICATION,
            PaymentLog.status.in_(ACTIVE_LOG_STATUSES),
            or_(PaymentLog.next_retry_at.is_(None), PaymentLog.next_retry_at <= now),
        )
    )


@contextmanager
def _read_only() -> Iterator[None]:
    """One transaction, bounded by the statement timeout on PostgreSQL, always rolled back."""
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        yield
    finally:
        db.session.rollback()
