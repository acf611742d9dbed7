"""Merchants and their API keys (only SHA-256 hashes of keys are stored)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.domain.statuses import RecordStatus
from payments.models.base import Base, BigIntId, TimestampMixin, UTCDateTime


class Merchant(TimestampMixin, Base):
    __tablename__ = "merchants"
    __table_args__ = (CheckConstraint("status IN ('active', 'inactive')", name="status"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.ACTIVE)
    # None: notifications go to MERCHANT_CALLBACK_URL.
    callback_url: Mapped[str | None] = mapped_column(Text)
    # Standard Webhooks secret: "whsec_" + base64 of 32 random bytes.
    webhook_secret: Mapped[str] = mapped_column(String(128))
    # The secret a rotation replaced (`rotate-secret --keep-old`): notifications carry a
    # signature with it too until `previous_webhook_secret_until`, so a merchant still verifying
    # with it loses nothing while switching.
    previous_webhook_secret: Mapped[str | None] = mapped_column(String(128))
    previous_webhook_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    api_keys: Mapped[list["MerchantApiKey"]] = relationship(back_populates="merchant")

    @property
    def is_active(self) -> bool:
        return self.status == RecordStatus.ACTIVE


class MerchantApiKey(TimestampMixin, Base):
    __tablename__ = "merchant_api_keys"
    __table_args__ = (CheckConstraint("status IN ('active', 'inactive')", name="status"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    # Hex SHA-256 of the key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.ACTIVE)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    merchant: Mapped[Merchant] = relationship(back_populates="api_keys")
