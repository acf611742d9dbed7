"""Merchant reads: the payment list, one payment, its timeline. Every query is scoped to the
authenticated merchant, so another merchant's payment is exactly as absent as an unknown one.

The list walks ix_payments_merchant_id_id (or ..._status_id) newest first and fetches one row
more than the page to know `has_next` exactly. `total` is exact up to EXACT_COUNT_LIMIT rows (a
bounded index scan); beyond that an exact count of a merchant's million payments would cost tens
to hundreds of milliseconds on every page, so it comes from count_cache (fresh for 30 s, recounted
by one request at a time): for such merchants `total` may lag new payments by about that long.
`has_next` is always exact.

Each read is a statement of its own in autocommit (database.statement_by_statement): no
BEGIN/ROLLBACK round trips, no ORM session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Row

from payments.config import Settings
from payments.database import statement_by_statement
from payments.domain.statuses import EventType
from payments.errors import PaymentNotFound
from payments.extensions import db
from payments.models import Payment, PaymentLog, Provider
from payments.prepared import prepared
from payments.services.count_cache import cached_count

EXACT_COUNT_LIMIT = 10_000
_NOTIFICATION_FIELDS = ("attempts", "next_retry_at", "last_response_code", "last_error")


@dataclass(frozen=True)
class PaymentFilter:
    merchant_id: int
    status: str | None = None
    order_id: int | None = None

    def conditions(self) -> list:
        columns = Payment.__table__.c
        conditions = [columns.merchant_id == self.merchant_id]
        if self.status is not None:
            conditions.append(columns.status == self.status)
        if self.order_id is not None:
            conditions.append(columns.order_id == self.order_id)
        return conditions

    def cache_key(self, settings: Settings) -> str:
        return (
            f"{settings.redis_key_prefix}count:{self.merchant_id}:"
            f"{self.status or '*'}:{self.order_id or '*'}"
        )


_payments, _providers = Payment.__table__, Provider.__table__

# The fields of a payment as the API shows them, straight from the row (no ORM objects: these
# reads are the hot path of a merchant's integration).
_PAYMENT_FIELDS = (
    _payments.c.id.label("payment_id"),
    _payments.c.order_id,
    _providers.c.alias.label("provider"),
    _payments.c.amount,
    _payments.c.price,
    _payments.c.currency,
    _payments.c.status,
    _payments.c.payment_url,
    _payments.c.expires_at,
    _payments.c.created_at,
    _payments.c.updated_at,
)
_WITH_PROVIDER = _payments.join(_providers, _providers.c.id == _payments.c.provider_id)

_logs = PaymentLog.__table__
_PAYMENT_STATUS = select(_payments.c.status).where(
    _payments.c.id == bindparam("payment_id"), _payments.c.merchant_id == bindparam("merchant_id")
)
_TIMELINE = select(_logs).where(_logs.c.payment_id == bindparam("payment_id")).order_by(_logs.c.id)

# The show endpoint's one statement: prepared on PostgreSQL (payments/prepared.py).
_ONE_PAYMENT = prepared(
    select(*_PAYMENT_FIELDS)
    .select_from(_WITH_PROVIDER)
    .where(
        _payments.c.id == bindparam("payment_id"),
        _payments.c.merchant_id == bindparam("merchant_id"),
    ),
    "show",
)


def list_payments(settings: Settings, where: PaymentFilter, page: int, limit: int) -> dict:
    offset = (page - 1) * limit
    # Deferred join: the page's ids come from the index alone (an index-only scan, however deep
    # the page), and only those rows are read from the table.
    page_ids = (
        select(_payments.c.id)
        .where(*where.conditions())
        .order_by(_payments.c.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    with statement_by_statement(db.engine) as connection:
        rows = connection.execute(
            select(*_PAYMENT_FIELDS)
            .select_from(_WITH_PROVIDER)
            .where(_payments.c.id.in_(page_ids.scalar_subquery()))
            .order_by(_payments.c.id.desc())
        ).all()
        items = [row._asdict() for row in rows[:limit]]
        # A cached total may lag; never report fewer payments than this page proves exist.
        total = max(_count(connection, settings, where), offset + len(items))
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "has_next": len(rows) > limit,
        "items": items,
    }


def get_payment(merchant_id: int, payment_id: int) -> dict:
    with statement_by_statement(db.engine) as connection:
        row = connection.execute(
            _ONE_PAYMENT, {"payment_id": payment_id, "merchant_id": merchant_id}
        ).first()
    if row is None:
        raise PaymentNotFound()
    return row._asdict()


def get_tracking(merchant_id: int, payment_id: int) -> dict:
    with statement_by_statement(db.engine) as connection:
        status = connection.scalar(
            _PAYMENT_STATUS, {"payment_id": payment_id, "merchant_id": merchant_id}
        )
        if status is None:
            raise PaymentNotFound()
        # Read after the status: the timeline holds at least the event of the status shown.
        entries = connection.execute(_TIMELINE, {"payment_id": payment_id}).all()
    return {
        "payment_id": payment_id,
        "payment_status": status,
        "events": [_event_fields(entry) for entry in entries],
    }


def _event_fields(entry: Row) -> dict[str, Any]:
    event = {
        "event_type": entry.event_type,
        "status": entry.status,
        "message": entry.message,
        "payload": entry.payload,
        "timestamp": entry.created_at,
    }
    if entry.event_type == EventType.MERCHANT_NOTIFICATION:
        event.update({name: getattr(entry, name) for name in _NOTIFICATION_FIELDS})
    return event


def _count(connection: Connection, settings: Settings, where: PaymentFilter) -> int:
    bounded = select(Payment.id).where(*where.conditions()).limit(EXACT_COUNT_LIMIT + 1)
    count = connection.scalar(select(func.count()).select_from(bounded.subquery()))
    if count <= EXACT_COUNT_LIMIT:
        return count
    return cached_count(
        where.cache_key(settings),
        lambda: connection.scalar(
            select(func.count()).select_from(Payment).where(*where.conditions())
        ),
    )
