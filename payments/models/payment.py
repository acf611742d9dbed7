"""Payments. At most one pending-or-finished payment per (merchant, order), enforced by the
database with a partial unique index, so a lost race is a constraint error, never a duplicate."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    and_,
    bindparam,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.database import hidden_from_partial_indexes
from payments.domain.statuses import OPEN_ORDER_STATUSES, PaymentStatus
from payments.models.base import Base, BigIntId, Money, TimestampMixin, UTCDateTime
from payments.models.merchant import Merchant
from payments.models.provider import Provider

_OPEN = ", ".join(f"'{status}'" for status in OPEN_ORDER_STATUSES)
_STATUSES = ", ".join(f"'{status}'" for status in PaymentStatus)
_PENDING = f"status = '{PaymentStatus.PENDING}'"


class Payment(TimestampMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("order_id > 0", name="order_id_positive"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        Index(
            "uq_payments_open_order",
            "merchant_id",
            "order_id",
            unique=True,
            postgresql_where=text(f"status IN ({_OPEN})"),
            sqlite_where=text(f"status IN ({_OPEN})"),
        ),
        # The merchant's newest-first list (ids grow with time), with and without filters.
        Index("ix_payments_merchant_id_id", "merchant_id", "id"),
        Index("ix_payments_merchant_status_id", "merchant_id", "status", "id"),
        Index("ix_payments_merchant_order", "merchant_id", "order_id"),
        # The sweep's look for pending payments whose link expired or never came.
        Index(
            "ix_payments_pending_created",
            "created_at",
            postgresql_where=text(_PENDING),
            sqlite_where=text(_PENDING),
        ),
        Index(
            "ix_payments_pending_expires",
            "expires_at",
            postgresql_where=text(_PENDING),
            sqlite_where=text(_PENDING),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    user_subscription_id: Mapped[int] = mapped_column(
        ForeignKey("user_subscriptions.id"), index=True
    )
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    order_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(32), default=PaymentStatus.PENDING)
    payment_url: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # X-Request-Id of the request that created it, carried to the provider and merchant.
    request_id: Mapped[str | None] = mapped_column(String(128))

    merchant: Mapped[Merchant] = relationship()
    provider: Mapped[Provider] = relationship()


def pending_with_id(id_param: str) -> ColumnElement[bool]:
    """`id = :<id_param> AND status = PENDING`: the condition of each UPDATE that changes one
    payment only while it is pending. Written plainly, the status test would match the
    predicate of the partial indexes on pending payments above, and stale statistics can make
    PostgreSQL walk one of them instead of the primary key (database.hidden_from_partial_indexes
    says when)."""
    columns = Payment.__table__.c
    return and_(
        columns.id == bindparam(id_param),
        hidden_from_partial_indexes(columns.status) == PaymentStatus.PENDING,
    )
