"""Subscription tokens. Spending is one conditional UPDATE, so concurrent requests can never
overspend; a refund never takes the count below zero (the database checks that too)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from payments.domain.statuses import RecordStatus
from payments.extensions import db
from payments.models import Subscription, UserSubscription

_subscriptions = UserSubscription.__table__
_PLAN_TOKENS = (
    select(Subscription.__table__.c.tokens)
    .where(Subscription.__table__.c.id == _subscriptions.c.subscription_id)
    .scalar_subquery()
)
# Built once: every payment creation runs it.
_SPEND = (
    update(_subscriptions)
    .where(
        _subscriptions.c.id == bindparam("spend_id"),
        _subscriptions.c.status == RecordStatus.ACTIVE,
        _subscriptions.c.used_tokens < _PLAN_TOKENS,
    )
    .values(used_tokens=_subscriptions.c.used_tokens + 1)
)


def spend_token(user_subscription_id: int) -> bool:
    """Take one token in the current transaction; False when the plan's tokens are used up."""
    return db.session.connection().execute(_SPEND, {"spend_id": user_subscription_id}).rowcount == 1


def refund_token(user_subscription_id: int) -> None:
    """Give one token back in the current transaction (a payment that never got a link)."""
    db.session.execute(
        update(UserSubscription)
        .where(UserSubscription.id == user_subscription_id, UserSubscription.used_tokens > 0)
        .values(used_tokens=UserSubscription.used_tokens - 1)
        .execution_options(synchronize_session=False)
    )
