"""Subscription tokens. Spending is one conditional UPDATE, so concurrent requests can never
overspend; a refund never takes the count below zero (the database checks that too)."""

from __future__ import annotations

from sqlalchemy import select, update

from payments.domain.statuses import RecordStatus
from payments.extensions import db
from payments.models import Subscription, UserSubscription


def spend_token(user_subscription_id: int) -> bool:
    """Take one token in the current transaction; False when the plan's tokens are used up."""
    plan_tokens = (
        select(Subscription.tokens)
        .where(Subscription.id == UserSubscription.subscription_id)
        .scalar_subquery()
    )
    result = db.session.execute(
        update(UserSubscription)
        .where(
            UserSubscription.id == user_subscription_id,
            UserSubscription.status == RecordStatus.ACTIVE,
            UserSubscription.used_tokens < plan_tokens,
        )
        .values(used_tokens=UserSubscription.used_tokens + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def refund_token(user_subscription_id: int) -> None:
    """Give one token back in the current transaction (a payment that never got a link)."""
    db.session.execute(
        update(UserSubscription)
        .where(UserSubscription.id == user_subscription_id, UserSubscription.used_tokens > 0)
        .values(used_tokens=UserSubscription.used_tokens - 1)
        .execution_options(synchronize_session=False)
    )
