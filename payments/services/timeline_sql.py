"""Timeline rows inside a data-modifying CTE (PostgreSQL): the rows are inserted only for the
payment another part of the same statement returned, so one statement changes the payment and
records what changed, and writes nothing when the change did not happen.

A row's values are the columns `timeline.event_row` fills (the outbox's notification row sets
webhook_id and next_retry_at on top), passed as parameters named `<slot>_<column>`: one set per
row ("slot") of the statement. No such name is a column of the tables these statements change
(SQLAlchemy would take it as a value to SET; tests/unit/test_creation_sql.py checks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, bindparam, cast, insert, select, union_all
from sqlalchemy.sql.selectable import CTE

from payments.models import PaymentLog
from payments.services.timeline import TimelineEvent, event_row

_LOGS = PaymentLog.__table__
# event_row's columns but the payment's id, which comes from the statement's source row.
EVENT_COLUMNS = (
    "event_type",
    "status",
    "message",
    "payload",
    "request_id",
    "attempts",
    "webhook_id",
    "next_retry_at",
    "created_at",
    "updated_at",
)


def rows_for(source: CTE, slots: tuple[str, ...]) -> Insert:
    """INSERT of one timeline row per slot for the payment `source` returned (none when it
    returned none), in slot order: a UNION ALL is read branch by branch and a data-modifying
    statement never runs in parallel, so ids grow in that order."""
    rows = [select(source.c.id, *(_value(slot, name) for name in EVENT_COLUMNS)) for slot in slots]
    return insert(_LOGS).from_select(
        ("payment_id", *EVENT_COLUMNS),
        rows[0] if len(rows) == 1 else union_all(*rows),
        include_defaults=False,
    )


def _value(slot: str, name: str) -> ColumnElement:
    # Cast: a NULL parameter would otherwise be text to PostgreSQL, which then refuses it for a
    # timestamp column once a UNION ALL has chosen the column's type.
    column_type = _LOGS.c[name].type
    return cast(bindparam(f"{slot}_{name}", type_=column_type), column_type)


def slot_values(slot: str, row: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `slot`'s row, from the row's column values (timeline.event_row's)."""
    return {f"{slot}_{name}": row[name] for name in EVENT_COLUMNS}


def event_values(
    slot: str, event: TimelineEvent, request_id: str | None, now: datetime
) -> dict[str, Any]:
    """The parameters of `slot`'s row recording `event`."""
    return slot_values(slot, event_row(None, event, request_id, now))
