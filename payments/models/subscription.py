"""Plans (`subscriptions`) and a merchant's subscription to one (`user_subscriptions`)."""

from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.domain.statuses import RecordStatus
from payments.models.base import Base, BigIntId, TimestampMixin


class Subscription(TimestampMixin, Base):
    """A plan: a merchant subscribed to it may create at most `tokens` payments."""

    __tablename__ = "subscriptions"
    __table_args__ = (CheckConstraint("tokens >= 0", name="tokens_not_negative"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    tokens: Mapped[int] = mapped_column(BigInteger)


class UserSubscription(TimestampMixin, Base):
    __tablename__ = "user_subscriptions"
    __table_args__ = (
        # Tokens are spent by one conditional UPDATE; the database refuses a negative balance.
        CheckConstraint("used_tokens >= 0", name="used_tokens_not_negative"),
        CheckConstraint("status IN ('active', 'inactive')", name="status"),
        UniqueConstraint("merchant_id", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    used_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.ACTIVE)

    plan: Mapped[Subscription] = relationship()
