"""Merchant reads: the payment list, one payment, its timeline. Every query is scoped to the
authenticated merchant, so another merchant's payment is exactly as absent as an unknown one.

The list walks ix_payments_merchant_id_id (or ..._status_id) newest first and fetches one row
more than the page to know `has_next` exactly. `total` is exact up to EXACT_COUNT_LIMIT rows (a
bounded index scan); beyond that an exact count of a merchant's million payments would cost tens
to hundreds of milliseconds on every page, so it comes from count_cache (fresh for 30 s, recounted
by one request at a time): for such merchants `total` may lag new payments by about that long.
`has_next` is always exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from payments.config import Settings
from payments.domain.statuses import EventType
from payments.errors import PaymentNotFound
from payments.extensions import db
from payments.models import Payment, PaymentLog, Provider
from payments.services.count_cache import cached_count

EXACT_COUNT_LIMIT = 10_000
_NOTIFICATION_FIELDS = ("attempts", "next_retry_at", "last_response_code", "last_error")


@dataclass(frozen=True)
class PaymentFilter:
    merchant_id: int
    status: str | None = None
    order_id: int | None = None

    def conditions(self) -> list:
        conditions = [Payment.merchant_id == self.merchant_id]
        if self.status is not None:
            conditions.append(Payment.status == self.status)
        if self.order_id is not None:
            conditions.append(Payment.order_id == self.order_id)
        return conditions

    def cache_key(self, settings: Settings) -> str:
        return (
            f"{settings.redis_key_prefix}count:{self.merchant_id}:"
            f"{self.status or '*'}:{self.order_id or '*'}"
        )


def list_payments(settings: Settings, where: PaymentFilter, page: int, limit: int) -> dict:
    offset = (page - 1) * limit
    rows = db.session.execute(
        select(Payment, Provider.alias)
        .join(Provider, Provider.id == Payment.provider_id)
        .where(*where.conditions())
        .order_by(Payment.id.desc())
        .offset(offset)
        .limit(limit + 1)
    ).all()
    items = [_payment_fields(payment, alias) for payment, alias in rows[:limit]]
    # A cached total may lag; never report fewer payments than this page proves exist.
    total = max(_count(settings, where), offset + len(items))
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "has_next": len(rows) > limit,
        "items": items,
    }


def get_payment(merchant_id: int, payment_id: int) -> dict:
    row = db.session.execute(
        select(Payment, Provider.alias)
        .join(Provider, Provider.id == Payment.provider_id)
        .where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
    ).first()
    if row is None:
        raise PaymentNotFound()
    return _payment_fields(*row)


def get_tracking(merchant_id: int, payment_id: int) -> dict:
    status = db.session.scalar(
        select(Payment.status).where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
    )
    if status is None:
        raise PaymentNotFound()
    entries = db.session.scalars(
        select(PaymentLog).where(PaymentLog.payment_id == payment_id).order_by(PaymentLog.id)
    )
    return {
        "payment_id": payment_id,
        "payment_status": status,
        "events": [_event_fields(entry) for entry in entries],
    }


def _payment_fields(payment: Payment, alias: str) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "provider": alias,
        "amount": payment.amount,
        "price": payment.price,
        "currency": payment.currency,
        "status": payment.status,
        "payment_url": payment.payment_url,
        "expires_at": payment.expires_at,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def _event_fields(entry: PaymentLog) -> dict[str, Any]:
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


def _count(settings: Settings, where: PaymentFilter) -> int:
    bounded = select(Payment.id).where(*where.conditions()).limit(EXACT_COUNT_LIMIT + 1)
    count = db.session.scalar(select(func.count()).select_from(bounded.subquery()))
    if count <= EXACT_COUNT_LIMIT:
        return count
    return cached_count(
        where.cache_key(settings),
        lambda: db.session.scalar(
            select(func.count()).select_from(Payment).where(*where.conditions())
        ),
    )
