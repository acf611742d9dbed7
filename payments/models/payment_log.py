"""`payment_logs`: the timeline of a payment and, in the same table, the outbox of merchant
notifications. A notification row is written in the same transaction as the status change it
announces, so it can never be lost; the sweep and notify actors deliver it."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from payments.domain.statuses import ACTIVE_LOG_STATUSES, EventType, LogStatus
from payments.models.base import Base, BigIntId, JSONDocument, TimestampMixin, UTCDateTime

_NOTIFICATION = f"event_type = '{EventType.MERCHANT_NOTIFICATION}'"
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_LOG_STATUSES)
_DUE = f"{_NOTIFICATION} AND status IN ({_ACTIVE})"


class PaymentLog(TimestampMixin, Base):
    __tablename__ = "payment_logs"
    __table_args__ = (
        # Timeline of one payment, oldest first.
        Index("ix_payment_logs_payment_id_id", "payment_id", "id"),
        # The sweep's "due notifications": small because delivered rows drop out of it.
        Index(
            "ix_payment_logs_due",
            "next_retry_at",
            postgresql_where=text(_DUE),
            sqlite_where=text(_DUE),
        ),
        # A payment reaches one final status, so it owes its merchant one notification.
        Index(
            "uq_payment_logs_one_notification",
            "payment_id",
            unique=True,
            postgresql_where=text(_NOTIFICATION),
            sqlite_where=text(_NOTIFICATION),
        ),
        Index(
            "ix_payment_logs_failed",
            "updated_at",
            postgresql_where=text(f"{_NOTIFICATION} AND status = '{LogStatus.FAILED}'"),
            sqlite_where=text(f"{_NOTIFICATION} AND status = '{LogStatus.FAILED}'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    # Outbox columns, used by notification rows only.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the row is next due: the next retry, or the end of the lease while processing.
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A claimed row belongs to the holder of `lease_token` until `lease_expires_at`.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(36))
    last_response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Standard Webhooks `webhook-id`: stable across every retry of this notification.
    webhook_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
