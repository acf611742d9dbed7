"""Payment providers, found by alias."""

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, BigIntId, TimestampMixin


class Provider(TimestampMixin, Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    alias: Mapped[str] = mapped_column(String(64), unique=True)
    # None: PROVIDER_URL applies.
    url: Mapped[str | None] = mapped_column(Text)
