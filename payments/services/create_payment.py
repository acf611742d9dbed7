"""Create a payment: `POST /api/v1/payments`.

One transaction spends the token, inserts the pending payment and its EVENT_PAYMENT_CREATED row
and links the idempotency key; only after its commit is the provider called (provider_link).
Every race is settled by the database: the token by a conditional UPDATE, the key by its unique
constraint, the order by the partial unique index on open payments. A lost race rolls back and
runs again, where it finds the winner's row and gives the matching answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
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
from payments.services.timeline import record_event

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
    provider = db.session.scalar(select(Provider).where(Provider.alias == command.alias))
    if provider is None:
        raise ProviderNotFound(f"Unknown provider alias {command.alias!r}.")
    subscription_id = _active_subscription(command.merchant_id, command.subscription_id)
    existing = _open_payment_of_order(command.merchant_id, command.order_id)
    if existing is not None:
        return _already_exists(existing, key_row)
    if not spend_token(subscription_id):
        raise SubscriptionExhausted("The subscription has no tokens left.")
    payment = _insert_payment(command, provider, subscription_id)
    if key_row is not None:
        key_row.payment_id = payment.id
    started = started_from(settings, payment, key_row.id if key_row is not None else None)
    db.session.commit()
    return started


def _insert_payment(
    command: CreatePaymentCommand, provider: Provider, subscription_id: int
) -> Payment:
    payment = Payment(
        merchant_id=command.merchant_id,
        user_subscription_id=subscription_id,
        provider_id=provider.id,
        order_id=command.order_id,
        amount=command.amount,
        price=command.price,
        currency=command.currency,
        status=PaymentStatus.PENDING,
        request_id=current_request_id(),
    )
    db.session.add(payment)
    try:
        db.session.flush()
    except IntegrityError as exc:  # an open payment of this order was committed meanwhile
        raise _LostRace() from exc
    record_event(
        payment.id,
        EventType.PAYMENT_CREATED,
        "payment created; a token was spent",
        {
            "order_id": command.order_id,
            "amount": format_money(command.amount),
            "price": format_money(command.price),
            "currency": command.currency,
            "provider": provider.alias,
        },
    )
    return payment


def _active_subscription(merchant_id: int, plan_id: int) -> int:
    subscription_id = db.session.scalar(
        select(UserSubscription.id).where(
            UserSubscription.merchant_id == merchant_id,
            UserSubscription.subscription_id == plan_id,
            UserSubscription.status == RecordStatus.ACTIVE,
        )
    )
    if subscription_id is None:
        raise SubscriptionNotFound()
    return subscription_id


def _open_payment_of_order(merchant_id: int, order_id: int) -> Payment | None:
    return db.session.scalar(
        select(Payment)
        .where(
            Payment.merchant_id == merchant_id,
            Payment.order_id == order_id,
            Payment.status.in_(OPEN_ORDER_STATUSES),
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


def _already_exists(payment: Payment, key_row: IdempotencyKey | None) -> CreateAnswer:
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
