"""The payment's timeline: every state change and every provider call is one row of
`payment_logs`, added in the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from payments.domain.statuses import EventType, LogStatus
from payments.extensions import db
from payments.models import PaymentLog
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
