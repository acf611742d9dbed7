"""Create a payment: `POST /api/v1/payments`.

One transaction inserts the pending payment and its EVENT_PAYMENT_CREATED row, links the
idempotency key and spends the token (last: see _open_payment); only after its commit is the
provider called (provider_link).
Every race is settled by the database: the token by a conditional UPDATE, the key by its unique
constraint, the order by the partial unique index on open payments. A lost race rolls back and
runs again, where it finds the winner's row and gives the matching answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from payments.config import Settings
from payments.domain.money import format_money
from payments.domain.statuses import OPEN_ORDER_STATUSES, EventType, PaymentStatus, RecordStatus
from payments.errors import (
    ProviderNotFound,
    ServiceUnavailable,
    SubscriptionExhausted,
    SubscriptionNotFound,
)
from payments.extensions import db
from payments.models import IdempotencyKey, Payment, Provider, UserSubscription
from payments.providers import LinkRequest
from payments.request_id import current_request_id
from payments.services import idempotency
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
    target = _provider_and_subscription(command)
    existing = _open_payment_of_order(command.merchant_id, command.order_id)
    if existing is not None:
        return _already_exists(existing, key_row)
    payment_id = _insert_payment(command, target)
    if key_row is not None:
        key_row.payment_id = payment_id
    # Spent last: the UPDATE locks the subscription's row until the commit and every create of
    # that subscription queues behind it, so the lock is held for one statement and the commit.
    if not spend_token(target.user_subscription_id):
        raise SubscriptionExhausted("The subscription has no tokens left.")
    db.session.commit()
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
        key_id=key_row.id if key_row is not None else None,
    )


# Prebuilt Core statements, run on the session's connection (the same transaction, without
# the ORM session's per-statement bookkeeping): creation is the write path under load.
_providers, _plans, _payments = Provider.__table__, UserSubscription.__table__, Payment.__table__

_PROVIDER_AND_SUBSCRIPTION = (
    select(
        _providers.c.id,
        _providers.c.url,
        _plans.c.id.label("user_subscription_id"),
    )
    .select_from(_providers)
    .outerjoin(
        _plans,
        and_(
            _plans.c.merchant_id == bindparam("merchant_id"),
            _plans.c.subscription_id == bindparam("plan_id"),
            _plans.c.status == RecordStatus.ACTIVE,
        ),
    )
    .where(_providers.c.alias == bindparam("alias"))
    .limit(1)
)

_OPEN_PAYMENT_OF_ORDER = (
    select(_payments.c.id, _payments.c.status, _payments.c.payment_url)
    .where(
        _payments.c.merchant_id == bindparam("merchant_id"),
        _payments.c.order_id == bindparam("order_id"),
        _payments.c.status.in_(OPEN_ORDER_STATUSES),
    )
    .order_by(_payments.c.id.desc())
    .limit(1)
)

_INSERT_PAYMENT = insert(_payments).returning(_payments.c.id)


def _provider_and_subscription(command: CreatePaymentCommand):
    """The provider of the alias and the merchant's active subscription to the plan, in one
    query; raises 422 for an unknown alias, 404 for a plan the merchant does not have."""
    row = (
        db.session.connection()
        .execute(
            _PROVIDER_AND_SUBSCRIPTION,
            {
                "alias": command.alias,
                "merchant_id": command.merchant_id,
                "plan_id": command.subscription_id,
            },
        )
        .first()
    )
    if row is None:
        raise ProviderNotFound(f"Unknown provider alias {command.alias!r}.")
    if row.user_subscription_id is None:
        raise SubscriptionNotFound()
    return row


def _insert_payment(command: CreatePaymentCommand, target) -> int:
    try:
        payment_id = (
            db.session.connection()
            .execute(
                _INSERT_PAYMENT,
                {
                    "merchant_id": command.merchant_id,
                    "user_subscription_id": target.user_subscription_id,
                    "provider_id": target.id,
                    "order_id": command.order_id,
                    "amount": command.amount,
                    "price": command.price,
                    "currency": command.currency,
                    "status": PaymentStatus.PENDING,
                    "request_id": current_request_id(),
                },
            )
            .scalar_one()
        )
    except IntegrityError as exc:  # an open payment of this order was committed meanwhile
        raise _LostRace() from exc
    append_events(
        payment_id,
        TimelineEvent(
            EventType.PAYMENT_CREATED,
            "payment created; a token was spent",
            {
                "order_id": command.order_id,
                "amount": format_money(command.amount),
                "price": format_money(command.price),
                "currency": command.currency,
                "provider": command.alias,
            },
        ),
    )
    return payment_id


def _open_payment_of_order(merchant_id: int, order_id: int):
    return (
        db.session.connection()
        .execute(_OPEN_PAYMENT_OF_ORDER, {"merchant_id": merchant_id, "order_id": order_id})
        .first()
    )


def _already_exists(payment, key_row: IdempotencyKey | None) -> CreateAnswer:
    answer = CreateAnswer(
        200,
        {
            "message": "payment already exists",
            "payment_id": payment.id,
            "status": payment.status,
            "payment_url": payment.payment_url,
        },
    )
    if key_row is not None:
        idempotency.complete(key_row.id, answer.status_code, answer.body, payment.id)
    db.session.commit()
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
