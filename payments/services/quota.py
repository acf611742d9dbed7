"""Subscription tokens. Spending is one conditional UPDATE, so concurrent requests can never
overspend; a refund never takes the count below zero (the database checks that too)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from payments.domain.statuses import RecordStatus
from payments.extensions import db
from payments.models import Subscription, UserSubscription

_subscriptions = UserSubscription.__table__
_PLAN_TOKENS = (
    select(Subscription.__table__.c.tokens)
    .where(Subscription.__table__.c.id == _subscriptions.c.subscription_id)
    .scalar_subquery()
)
# Built once: every payment creation runs it (on PostgreSQL inside creation_sql's statement,
# which adds RETURNING and sets updated_at itself).
SPEND_TOKEN = (
    update(_subscriptions)
    .where(
        _subscriptions.c.id == bindparam("spend_id"),
        _subscriptions.c.status == RecordStatus.ACTIVE,
        _subscriptions.c.used_tokens < _PLAN_TOKENS,
    )
    .values(used_tokens=_subscriptions.c.used_tokens + 1)
)


def spend_token(user_subscription_id: int, connection: Connection | None = None) -> bool:
    """Take one token in the transaction of `connection` (by default the session's); False when
    the plan's tokens are used up."""
    connection = connection or db.session.connection()
    return connection.execute(SPEND_TOKEN, {"spend_id": user_subscription_id}).rowcount == 1


def refund_token(user_subscription_id: int) -> None:
    """Give one token back in the current transaction (a payment that never got a link)."""
    db.session.execute(
        update(UserSubscription)
        .where(UserSubscription.id == user_subscription_id, UserSubscription.used_tokens > 0)
        .values(used_tokens=UserSubscription.used_tokens - 1)
        .execution_options(synchronize_session=False)
    )
