"""Create a payment: `POST /api/v1/payments`.

One query reads what creation needs (the alias's provider, the merchant's subscription, the
order's open payment). One atomic write then spends the token and inserts the pending payment
with its EVENT_PAYMENT_CREATED row, linked to the idempotency key (on PostgreSQL a single
statement, creation_sql.OPEN_PAYMENT; on SQLite a transaction); only after its commit is the
provider called (provider_link).
Every race is settled by the database: the token by a conditional UPDATE, the key by its unique
constraint, the order by the partial unique index on open payments. A lost race rolls back and
runs again, where it finds the winner's row and gives the matching answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from payments.config import Settings
from payments.database import statement_by_statement
from payments.domain.money import format_money
from payments.domain.statuses import EventType, PaymentStatus
from payments.errors import (
    ProviderNotFound,
    ServiceUnavailable,
    SubscriptionExhausted,
    SubscriptionNotFound,
)
from payments.extensions import db
from payments.models import IdempotencyKey, Payment, utcnow
from payments.providers import LinkRequest
from payments.request_id import current_request_id
from payments.services import creation_sql, idempotency, timeline_sql
from payments.services.provider_link import (
    CreateAnswer,
    StartedPayment,
    answer_from_payment,
    obtain_link,
    started_from,
)
from payments.services.quota import spend_token
from payments.services.timeline import TimelineEvent, append_events

_RACE_TRIES = 3


@dataclass(frozen=True)
class CreatePaymentCommand:
    merchant_id: int
    order_id: int
    amount: Decimal
    price: Decimal
    alias: str
    subscription_id: int
    currency: str = "USD"
    event_id: str | None = None
    # The Idempotency-Key header; when absent, event_id serves as the key.
    idempotency_key: str | None = None

    @property
    def key(self) -> str | None:
        return self.idempotency_key or self.event_id

    def fingerprint(self) -> str:
        return idempotency.fingerprint(
            {
                "order_id": self.order_id,
                "amount": format_money(self.amount),
                "price": format_money(self.price),
                "alias": self.alias,
                "subscription_id": self.subscription_id,
                "currency": self.currency,
                "event_id": self.event_id,
            }
        )


class _LostRace(Exception):
    """Another request committed the same order first; start again to find its payment."""


def create_payment(settings: Settings, command: CreatePaymentCommand) -> CreateAnswer:
    """The answer to give (201, 200, 502, or a replay of the first); raises 400/402/409/422."""
    for _ in range(_RACE_TRIES):
        try:
            return _create_once(settings, command)
        except _LostRace:
            db.session.rollback()
    raise ServiceUnavailable("Too many concurrent requests for this order; retry shortly.")


def _create_once(settings: Settings, command: CreatePaymentCommand) -> CreateAnswer:
    key_row: IdempotencyKey | None = None
    if command.key is not None:
        claim = idempotency.claim(settings, command.merchant_id, command.key, command.fingerprint())
        if isinstance(claim, idempotency.Replay):
            return CreateAnswer(claim.status_code, claim.body, replayed=True)
        if isinstance(claim, idempotency.TakenOver):
            return _finish_taken_over(settings, claim)
        key_row = claim.row
    try:
        started = _open_payment(settings, command, key_row)
    except (ProviderNotFound, SubscriptionNotFound, SubscriptionExhausted):
        db.session.rollback()  # drops the key row too: see idempotency's docstring
        raise
    if isinstance(started, CreateAnswer):
        return started
    return obtain_link(settings, started)


def _open_payment(
    settings: Settings, command: CreatePaymentCommand, key_row: IdempotencyKey | None
) -> StartedPayment | CreateAnswer:
    key_id = key_row.id if key_row is not None else None
    with _first_writes(keyed=key_id is not None) as connection:
        target = _target_of(connection, command)
        if target.open_payment_id is not None:
            return _already_exists(target, key_id)
        payment_id = _insert_spending_token(connection, command, target, key_id)
    return StartedPayment(
        payment_id=payment_id,
        user_subscription_id=target.user_subscription_id,
        base_url=target.url or settings.provider_url,
        link_request=LinkRequest(
            payment_id=payment_id,
            merchant_id=command.merchant_id,
            provider=command.alias,
            order_id=command.order_id,
            amount=format_money(command.amount),
            price=format_money(command.price),
            currency=command.currency,
        ),
        key_id=key_id,
    )


@contextmanager
def _first_writes(keyed: bool) -> Iterator[Connection]:
    """Where the writes before the provider call go, committed when the block ends. With a key,
    the session's transaction, which holds the key row since idempotency.claim. Without one, a
    connection of their own: statement by statement on PostgreSQL (the payment is written by
    one atomic statement), one transaction on SQLite. An exception leaves nothing behind
    (create_payment rolls the session back)."""
    if not keyed:
        with statement_by_statement(db.engine) as connection:
            yield connection
        return
    yield db.session.connection()
    db.session.commit()


def _target_of(connection: Connection, command: CreatePaymentCommand):
    """The provider of the alias, the merchant's active subscription to the plan and the
    order's open payment, in one query; raises 422 for an unknown alias, 404 for a plan the
    merchant does not have."""
    row = connection.execute(
        creation_sql.TARGET,
        {
            "alias": command.alias,
            "merchant_id": command.merchant_id,
            "plan_id": command.subscription_id,
            "order_id": command.order_id,
        },
    ).first()
    if row is None:
        raise ProviderNotFound(f"Unknown provider alias {command.alias!r}.")
    if row.user_subscription_id is None:
        raise SubscriptionNotFound()
    return row


def _insert_spending_token(
    connection: Connection, command: CreatePaymentCommand, target, key_id: int | None
) -> int:
    """Spend a token and insert the pending payment with its first timeline row (linked to the
    key, if any); raises 402 when no token is left, _LostRace when the order got an open
    payment meanwhile."""
    now = utcnow()
    created = TimelineEvent(
        EventType.PAYMENT_CREATED,
        "payment created; a token was spent",
        {
            "order_id": command.order_id,
            "amount": format_money(command.amount),
            "price": format_money(command.price),
            "currency": command.currency,
            "provider": command.alias,
        },
    )
    columns = {
        "merchant_id": command.merchant_id,
        "user_subscription_id": target.user_subscription_id,
        "provider_id": target.id,
        "order_id": command.order_id,
        "amount": command.amount,
        "price": command.price,
        "currency": command.currency,
        "status": PaymentStatus.PENDING,
        "request_id": current_request_id(),
    }
    try:
        if connection.dialect.name == "postgresql":
            payment_id = connection.execute(
                creation_sql.OPEN_PAYMENT_LINKING_KEY
                if key_id is not None
                else creation_sql.OPEN_PAYMENT,
                {
                    **creation_sql.payment_values(columns),
                    **timeline_sql.event_values("created", created, columns["request_id"], now),
                    "spend_id": target.user_subscription_id,
                    "key_id": key_id,
                    "now": now,
                },
            ).scalar()
        else:
            payment_id = _insert_step_by_step(connection, columns, created, target, key_id, now)
    except IntegrityError as exc:  # an open payment of this order was committed meanwhile
        raise _LostRace() from exc
    if payment_id is None:
        raise SubscriptionExhausted("The subscription has no tokens left.")
    return payment_id


def _insert_step_by_step(
    connection: Connection,
    columns: dict[str, Any],
    created: TimelineEvent,
    target,
    key_id: int | None,
    now: datetime,
) -> int | None:
    """OPEN_PAYMENT's steps as separate statements in the connection's transaction (SQLite);
    None when no token was left (the caller's error rolls the rest back)."""
    payment_id = connection.execute(
        creation_sql.INSERT_PAYMENT,
        {**columns, "created_at": now, "updated_at": now},
    ).scalar_one()
    append_events(payment_id, created, connection=connection)
    if key_id is not None:
        connection.execute(
            update(IdempotencyKey.__table__)
            .where(IdempotencyKey.__table__.c.id == key_id)
            .values(payment_id=payment_id, updated_at=now)
        )
    # Spent last: the UPDATE locks the subscription's row until the commit.
    return payment_id if spend_token(target.user_subscription_id, connection) else None


def _already_exists(target, key_id: int | None) -> CreateAnswer:
    """The order's open payment, unchanged; stored as the key's answer (the caller commits)."""
    answer = CreateAnswer(
        200,
        {
            "message": "payment already exists",
            "payment_id": target.open_payment_id,
            "status": target.open_payment_status,
            "payment_url": target.open_payment_url,
        },
    )
    if key_id is not None:
        idempotency.complete(key_id, answer.status_code, answer.body, target.open_payment_id)
    return answer


def _finish_taken_over(settings: Settings, taken: idempotency.TakenOver) -> CreateAnswer:
    payment = db.session.get(Payment, taken.payment_id) if taken.payment_id else None
    if payment is None:
        # Cannot happen (a key is committed with its payment); never leave the key stuck.
        idempotency.release(taken.key_id)
        db.session.commit()
        raise ServiceUnavailable("The earlier request with this key was lost; retry.")
    if payment.status == PaymentStatus.PENDING and payment.payment_url is None:
        started = started_from(settings, payment, taken.key_id)
        db.session.commit()
        return obtain_link(settings, started)
    answer = answer_from_payment(payment)
    idempotency.complete(taken.key_id, answer.status_code, answer.body, payment.id)
    db.session.commit()
    return answer
