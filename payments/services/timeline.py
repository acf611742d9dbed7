"""The payment's timeline: every state change and every provider call is one row of
`payment_logs`, added in the transaction of the change it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from payments.domain.statuses import EventType, LogStatus
from payments.extensions import db
from payments.models import PaymentLog, utcnow
from payments.request_id import current_request_id


def record_event(
    payment_id: int,
    event_type: EventType,
    message: str = "",
    payload: dict[str, Any] | None = None,
    status: LogStatus = LogStatus.SUCCESS,
) -> PaymentLog:
    """Add a timeline row to the current session (the caller commits with its change)."""
    entry = PaymentLog(
        payment_id=payment_id,
        event_type=event_type,
        status=status,
        message=message,
        payload=payload,
        request_id=current_request_id(),
    )
    db.session.add(entry)
    return entry


@dataclass(frozen=True)
class TimelineEvent:
    event_type: EventType
    message: str = ""
    payload: dict[str, Any] | None = None
    status: LogStatus = LogStatus.SUCCESS
    created_at: datetime | None = None  # None: now


def event_row(
    payment_id: int | None, event: TimelineEvent, request_id: str | None, now: datetime
) -> dict[str, Any]:
    """The column values of one `payment_logs` row (the columns `record_event` fills), for a
    Core INSERT (payment_id None: the statement supplies it, timeline_sql). Every column that
    any row may set is present, so rows batch into one statement; the outbox's notification row
    sets webhook_id and next_retry_at on top."""
    return {
        "payment_id": payment_id,
        "event_type": event.event_type,
        "status": event.status,
        "message": event.message,
        "payload": event.payload,
        "request_id": request_id,
        "attempts": 0,
        "webhook_id": None,
        "next_retry_at": None,
        "created_at": event.created_at or now,
        "updated_at": now,
    }


def append_events(
    payment_id: int, *events: TimelineEvent, connection: Connection | None = None
) -> None:
    """Insert timeline rows with one statement and no ORM objects (payment creation's hot
    path); in the transaction of `connection` (by default the session's), in the given order
    (ids grow with it)."""
    request_id, now = current_request_id(), utcnow()
    rows = [event_row(payment_id, event, request_id, now) for event in events]
    connection = connection or db.session.connection()
    # One row as plain parameters: a list would take the (costlier) executemany path.
    connection.execute(_INSERT_EVENT, rows[0] if len(rows) == 1 else rows)


_INSERT_EVENT = insert(PaymentLog.__table__)
