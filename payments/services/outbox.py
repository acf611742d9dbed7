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

from sqlalchemy.engine import Connection, Row

from payments.config import Settings
from payments.database import statement_by_statement
from payments.domain.money import format_money
from payments.domain.statuses import LogStatus, PaymentStatus
from payments.domain.transitions import notification_type
from payments.extensions import db
from payments.models import Payment, PaymentLog, utcnow
from payments.services import outbox_sql as sql
from payments.services.timeline import TimelineEvent, event_row, record_event

NOTIFICATION = sql.NOTIFICATION
# A notification whose fast-path message was sent is left to it this long before the sweep may
# claim it too: under load the message can wait in the queue for a moment, and a sweep claiming
# the row meanwhile only doubles the work (two messages, the first of which finds the row
# leased and does nothing). A row whose message could not be sent is made due at once
# (due_now); one lost silently (a broker crash after accepting it) is swept this much later.
FAST_PATH_GRACE = timedelta(seconds=5)


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
    previous_webhook_secret: str | None = None  # still signing after a rotation (--keep-old)


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


def notification_payload(payment: Payment | Row, at: datetime) -> dict[str, Any]:
    """SPEC section 5. Kept on the row, so every retry sends the same body.

    `payment` is the model or a row with its columns (the webhook's UPDATE ... RETURNING)."""
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


def notification_row(payment: Row, at: datetime, request_id: str | None) -> dict[str, Any]:
    """The outbox row announcing `payment`'s final status: pending, for the fast path to send
    at once; the sweep's after FAST_PATH_GRACE."""
    payload = notification_payload(payment, at)
    event = TimelineEvent(
        NOTIFICATION, f"{payload['type']} queued for the merchant", payload, LogStatus.PENDING
    )
    row = event_row(payment.id, event, request_id, at)
    row.update(webhook_id="msg_" + uuid.uuid4().hex, next_retry_at=at + FAST_PATH_GRACE)
    return row


def insert_log_rows(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the rows in the connection's transaction (batched into one INSERT ... VALUES
    (...), (...) RETURNING: one round trip, a cached statement); the id of the notification
    among them."""
    ids = connection.execute(sql.INSERT_LOGS, rows).scalars().all()
    (log_id,) = [
        log_id for log_id, row in zip(ids, rows, strict=True) if row["event_type"] == NOTIFICATION
    ]
    return log_id


def due_now(log_id: int) -> None:
    """The fast-path message for a pending row could not be sent: the next sweep may take the
    row at once instead of after FAST_PATH_GRACE."""
    with statement_by_statement(db.engine) as connection:
        connection.execute(sql.DUE_NOW, {"log_id": log_id, "now": utcnow()})


def claim_due(settings: Settings, limit: int, now: datetime | None = None) -> list[Lease]:
    """Lease up to `limit` due rows (retries due, new rows, expired leases) and commit.

    SKIP LOCKED lets several sweeps claim at once without waiting for or overlapping each other.
    The rows of one claim share its token (a lease is the pair row id + token), so the whole
    batch is leased by one UPDATE instead of one per row.
    """
    now = now or utcnow()
    token = str(uuid.uuid4())
    with db.engine.begin() as connection:
        ids = connection.execute(sql.DUE, {"now": now, "limit": limit}).scalars().all()
        if ids:
            lease_end = now + timedelta(seconds=settings.notify_lease_seconds)
            connection.execute(
                sql.LEASE, {"ids": ids, "token": token, "lease_end": lease_end, "now": now}
            )
    return [Lease(log_id, token) for log_id in ids]


def start_attempt(settings: Settings, log_id: int, lease_token: str | None) -> DeliveryJob | None:
    """Take (or confirm) the lease for one attempt, count the attempt, and commit.

    With a token (sent by the sweep) the lease must still be ours; it is renewed so the whole
    lease covers the HTTP call. Without one (the fast path) the row is claimed here when it is
    pending (a fresh or requeued notification: sent now, whatever its sweep time), due for a
    retry, or its lease ran out. None: the row is done, not due, or someone else holds it.
    """
    now = utcnow()
    token = lease_token or str(uuid.uuid4())
    with statement_by_statement(db.engine) as connection:
        row = connection.execute(
            sql.lease_statement(
                renew=lease_token is not None, postgresql=connection.dialect.name == "postgresql"
            ),
            {
                "log_id": log_id,
                "now": now,
                "token": token,
                "lease_end": now + timedelta(seconds=settings.notify_lease_seconds),
            },
        ).one_or_none()
    if row is None:
        return None
    return DeliveryJob(
        log_id=row.id,
        payment_id=row.payment_id,
        lease_token=token,
        attempts=row.attempts,
        webhook_id=row.webhook_id or f"msg_log_{row.id}",
        request_id=row.request_id,
        payload=dict(row.payload or {}),
        callback_url=row.callback_url,
        webhook_secret=row.webhook_secret,
        previous_webhook_secret=row.previous_webhook_secret,
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
    with statement_by_statement(db.engine) as connection:
        written = connection.execute(
            sql.FINISH,
            {
                "log_id": job.log_id,
                "token": job.lease_token,
                "status": status,
                "message": message,
                "response_code": response_code,
                "error": error,
                "next_retry_at": next_retry_at,
                "now": utcnow(),
            },
        ).rowcount
    return written == 1
