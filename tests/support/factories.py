"""Rows for tests that need a payment in a given state without going through the API."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from payments.domain.statuses import PaymentStatus
from payments.extensions import db
from payments.models import Payment, Provider, UserSubscription


def make_payment(
    merchant_id: int,
    order_id: int,
    *,
    status: PaymentStatus = PaymentStatus.PENDING,
    amount: str = "10.50",
    alias: str = "stripe",
    payment_url: str | None = "http://provider.test/pay/x",
    **fields,
) -> Payment:
    """Insert and commit a payment of `merchant_id` (needs the demo data), in an app context."""
    subscription_id = db.session.scalar(
        select(UserSubscription.id).where(UserSubscription.merchant_id == merchant_id)
    )
    provider_id = db.session.scalar(select(Provider.id).where(Provider.alias == alias))
    payment = Payment(
        merchant_id=merchant_id,
        user_subscription_id=subscription_id,
        provider_id=provider_id,
        order_id=order_id,
        amount=Decimal(amount),
        price=Decimal(amount),
        currency="USD",
        status=status,
        payment_url=payment_url,
        **fields,
    )
    db.session.add(payment)
    db.session.commit()
    return payment
