"""Payment creation's SQL, built once at import.

Creation writes twice: before the provider call (the token, the pending payment, its first
timeline row, the idempotency key's link to it) and after it (the link, two timeline rows, the
key's stored answer). On PostgreSQL each write is ONE statement, data-modifying CTEs chained by
RETURNING:

- OPEN_PAYMENT: the token's conditional UPDATE returns the subscription only when a token was
  left, the payment is inserted from that row (no token, no payment), and its timeline row from
  the payment's. No row back means no token. A second open payment of the order fails the
  whole statement on the unique index, so nothing is kept.
- STORE_LINK_WITH_EVENTS: the link's conditional UPDATE (still pending, no link yet) returns
  the payment, the timeline rows and the key's answer are written only from that row. No row
  back means the payment moved on (the provider's webhook came first): nothing is written and
  the caller takes the general path.

A statement is atomic by itself, so each runs in autocommit (database.statement_by_statement),
one round trip with no BEGIN or COMMIT around it; only OPEN_PAYMENT_LINKING_KEY joins the
transaction that holds the new idempotency key row. A creation without a key now costs three
round trips to PostgreSQL (TARGET, OPEN_PAYMENT, STORE_LINK_WITH_EVENTS) where it cost eleven,
and the subscription's row lock, which orders every creation of that subscription, is held
inside the server for one statement and its commit instead of across client round trips.

The timeline rows are timeline_sql's. SQLite has no data-modifying CTEs: there, create_payment
and provider_link run the same steps as separate statements in one transaction (SPEND_TOKEN,
INSERT_PAYMENT, STORE_LINK, the timeline's INSERT).

Parameter names never match a column of a table the statement changes: SQLAlchemy would take
such an execution parameter as a value to SET. Every updated_at is set explicitly, since
SQLAlchemy cannot add its onupdate default to an UPDATE inside a CTE.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, insert, select, update

from payments.domain.statuses import OPEN_ORDER_STATUSES, RecordStatus
from payments.models import IdempotencyKey, Payment, Provider, UserSubscription
from payments.models.payment import pending_with_id
from payments.prepared import prepared
from payments.services import timeline_sql
from payments.services.idempotency import COMPLETED
from payments.services.quota import SPEND_TOKEN

_PROVIDERS, _PLANS = Provider.__table__, UserSubscription.__table__
_PAYMENTS, _KEYS = Payment.__table__, IdempotencyKey.__table__

# What creation needs to know first, in one SELECT on every backend: the alias's provider, the
# merchant's active subscription to the plan (NULL: none) and the order's open payment (NULL:
# none; the partial unique index allows at most one, so the joins give at most one row).
TARGET = prepared(
    select(
        _PROVIDERS.c.id,
        _PROVIDERS.c.url,
        _PLANS.c.id.label("user_subscription_id"),
        _PAYMENTS.c.id.label("open_payment_id"),
        _PAYMENTS.c.status.label("open_payment_status"),
        _PAYMENTS.c.payment_url.label("open_payment_url"),
    )
    .select_from(_PROVIDERS)
    .outerjoin(
        _PLANS,
        (_PLANS.c.merchant_id == bindparam("merchant_id"))
        & (_PLANS.c.subscription_id == bindparam("plan_id"))
        & (_PLANS.c.status == RecordStatus.ACTIVE),
    )
    .outerjoin(
        _PAYMENTS,
        (_PAYMENTS.c.merchant_id == bindparam("merchant_id"))
        & (_PAYMENTS.c.order_id == bindparam("order_id"))
        & _PAYMENTS.c.status.in_(OPEN_ORDER_STATUSES),
    )
    .where(_PROVIDERS.c.alias == bindparam("alias"))
    .limit(1),
    "create_target",
)

# The payment row's columns; `payment_values` gives the parameters of both forms.
PAYMENT_COLUMNS = (
    "merchant_id",
    "user_subscription_id",
    "provider_id",
    "order_id",
    "amount",
    "price",
    "currency",
    "status",
    "request_id",
)
INSERT_PAYMENT = insert(_PAYMENTS).returning(_PAYMENTS.c.id)


def payment_values(columns: dict[str, Any]) -> dict[str, Any]:
    """OPEN_PAYMENT's parameters for a payment row of these `columns` (a value for each
    PAYMENT_COLUMNS column), named apart from the columns (see the module's docstring)."""
    return {f"new_{name}": columns[name] for name in PAYMENT_COLUMNS}


def _param(name: str, column: ColumnElement) -> ColumnElement:
    return bindparam(name, type_=column.type)


def _open_payment(link_key: bool):
    spent = SPEND_TOKEN.values(updated_at=bindparam("now")).returning(_PLANS.c.id).cte("spent")
    values = [
        spent.c.id if name == "user_subscription_id" else _param(f"new_{name}", _PAYMENTS.c[name])
        for name in PAYMENT_COLUMNS
    ]
    now = _param("now", _PAYMENTS.c.created_at)
    payment = (
        insert(_PAYMENTS)
        .from_select(
            (*PAYMENT_COLUMNS, "created_at", "updated_at"),
            select(*values, now, now).select_from(spent),
            include_defaults=False,
        )
        .returning(_PAYMENTS.c.id)
        .cte("payment")
    )
    writes = [timeline_sql.rows_for(payment, ("created",)).cte("created")]
    if link_key:
        writes.append(
            update(_KEYS)
            .where(_KEYS.c.id == bindparam("key_id"))
            .values(payment_id=select(payment.c.id).scalar_subquery(), updated_at=now)
            .cte("key_linked")
        )
    return select(payment.c.id).add_cte(*writes)


# Run on every creation: prepared on PostgreSQL (payments/prepared.py), as TARGET is.
OPEN_PAYMENT = prepared(_open_payment(link_key=False), "create_open")
OPEN_PAYMENT_LINKING_KEY = prepared(_open_payment(link_key=True), "create_open_keyed")

# The link on a payment still pending without one; by primary key (pending_with_id says why).
STORE_LINK = (
    update(_PAYMENTS)
    .where(pending_with_id("link_payment_id"), _PAYMENTS.c.payment_url.is_(None))
    .values(
        payment_url=bindparam("link_url"),
        expires_at=bindparam("link_expires_at"),
        updated_at=bindparam("now"),
    )
)


def _store_link_with_events(complete_key: bool):
    linked = STORE_LINK.returning(_PAYMENTS.c.id).cte("linked")
    writes = [timeline_sql.rows_for(linked, ("sent", "accepted")).cte("events")]
    if complete_key:
        writes.append(
            update(_KEYS)
            .where(_KEYS.c.id == bindparam("key_id"), exists(select(linked.c.id)))
            .values(
                state=COMPLETED,
                response_code=bindparam("answer_code"),
                response_body=bindparam("answer_body", type_=_KEYS.c.response_body.type),
                payment_id=bindparam("link_payment_id"),
                updated_at=bindparam("now"),
            )
            .cte("key_completed")
        )
    return select(linked.c.id).add_cte(*writes)


STORE_LINK_WITH_EVENTS = prepared(_store_link_with_events(complete_key=False), "create_link")
STORE_LINK_COMPLETING_KEY = prepared(
    _store_link_with_events(complete_key=True), "create_link_keyed"
)
