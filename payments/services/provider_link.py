"""The provider phase of payment creation: after the payment is committed, ask its provider for
a link and record the outcome under a row lock (the provider's webhook may race with us).

Success stores the link on a still-pending payment. Failure fails a still-pending payment and
gives its token back. A payment that is no longer pending (the webhook got there first) keeps its
final status: the outcome only joins its timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from payments.config import Settings
from payments.database import statement_by_statement
from payments.domain.money import format_money
from payments.domain.statuses import EventType, LogStatus, PaymentStatus
from payments.errors import ProviderFailed, ProviderUnreachable, service_error_body
from payments.extensions import db
from payments.models import Payment, Provider, utcnow
from payments.providers import LinkRequest, ProviderCallFailed, ProviderLink, request_payment_link
from payments.request_id import current_request_id
from payments.services import creation_sql, idempotency, timeline_sql
from payments.services.quota import refund_token
from payments.services.timeline import TimelineEvent, append_events, record_event

PAYMENTS_PATH = "/api/v1/payments"


@dataclass(frozen=True)
class CreateAnswer:
    """What the client gets: stored as is for idempotent replays."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False

    @property
    def location(self) -> str | None:
        if self.status_code != 201:
            return None
        return f"{PAYMENTS_PATH}/{self.body['payment_id']}"


@dataclass(frozen=True)
class StartedPayment:
    """A committed pending payment, with what the provider call needs (no ORM object: the call
    runs outside any transaction)."""

    payment_id: int
    user_subscription_id: int
    base_url: str
    link_request: LinkRequest
    key_id: int | None


def started_from(settings: Settings, payment: Payment, key_id: int | None) -> StartedPayment:
    provider: Provider = payment.provider
    return StartedPayment(
        payment_id=payment.id,
        user_subscription_id=payment.user_subscription_id,
        base_url=provider.url or settings.provider_url,
        link_request=LinkRequest(
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            provider=provider.alias,
            order_id=payment.order_id,
            amount=format_money(payment.amount),
            price=format_money(payment.price),
            currency=payment.currency,
        ),
        key_id=key_id,
    )


def obtain_link(settings: Settings, started: StartedPayment) -> CreateAnswer:
    """Call the provider (no transaction open meanwhile), then record what happened."""
    sent_at = utcnow()
    try:
        outcome: ProviderLink | ProviderCallFailed = request_payment_link(
            started.base_url,
            started.link_request,
            budget_seconds=settings.provider_timeout_seconds,
            request_id=current_request_id(),
        )
    except ProviderCallFailed as failure:
        outcome = failure
    if isinstance(outcome, ProviderLink):
        answer = _store_link(settings, started, outcome, sent_at)
        if answer is not None:
            return answer
    payment = db.session.scalar(
        select(Payment).where(Payment.id == started.payment_id).with_for_update()
    )
    append_events(payment.id, _request_sent(started, sent_at))
    if isinstance(outcome, ProviderLink):
        answer = _accepted(settings, payment, outcome)
    else:
        answer = _failed(payment, outcome)
    if started.key_id is not None:
        idempotency.complete(started.key_id, answer.status_code, answer.body, payment.id)
    db.session.commit()
    return answer


def _store_link(
    settings: Settings, started: StartedPayment, link: ProviderLink, sent_at: datetime
) -> CreateAnswer | None:
    """The usual outcome: the link stored on a payment still pending without one (its row lock
    orders us against the provider's webhook), both timeline rows, the key's answer; on
    PostgreSQL as one statement in autocommit (creation_sql), on SQLite as a transaction.
    None when the payment moved on meanwhile: the caller then takes the general path, under
    SELECT ... FOR UPDATE."""
    expires_at = link.expires_at or utcnow() + timedelta(seconds=settings.payment_link_ttl_seconds)
    answer = CreateAnswer(
        201,
        {
            "payment_id": started.payment_id,
            "status": PaymentStatus.PENDING,
            "payment_url": link.payment_url,
        },
    )
    events = (
        _request_sent(started, sent_at),
        TimelineEvent(
            EventType.PROVIDER_PAYMENT_ACCEPTED,
            "the provider issued a payment link",
            _accepted_payload(link, expires_at),
        ),
    )
    link_values = {
        "link_payment_id": started.payment_id,
        "link_url": link.payment_url,
        "link_expires_at": expires_at,
        "now": utcnow(),
    }
    with statement_by_statement(db.engine) as connection:
        if connection.dialect.name == "postgresql":
            stored = _store_in_one_statement(connection, started, answer, events, link_values)
        else:
            stored = _store_step_by_step(connection, started, answer, events, link_values)
    return answer if stored else None


def _store_in_one_statement(
    connection: Connection,
    started: StartedPayment,
    answer: CreateAnswer,
    events: tuple[TimelineEvent, TimelineEvent],
    link_values: dict[str, Any],
) -> bool:
    request_id, now = current_request_id(), link_values["now"]
    sent, accepted = events
    statement = creation_sql.STORE_LINK_WITH_EVENTS
    parameters = {
        **link_values,
        **timeline_sql.event_values("sent", sent, request_id, now),
        **timeline_sql.event_values("accepted", accepted, request_id, now),
    }
    if started.key_id is not None:
        statement = creation_sql.STORE_LINK_COMPLETING_KEY
        parameters |= {
            "key_id": started.key_id,
            "answer_code": answer.status_code,
            "answer_body": answer.body,
        }
    return connection.execute(statement, parameters).first() is not None


def _store_step_by_step(
    connection: Connection,
    started: StartedPayment,
    answer: CreateAnswer,
    events: tuple[TimelineEvent, TimelineEvent],
    link_values: dict[str, Any],
) -> bool:
    """STORE_LINK_WITH_EVENTS's steps as separate statements in the connection's transaction
    (SQLite)."""
    if connection.execute(creation_sql.STORE_LINK, link_values).rowcount != 1:
        return False
    append_events(started.payment_id, *events, connection=connection)
    if started.key_id is not None:
        idempotency.complete(
            started.key_id, answer.status_code, answer.body, started.payment_id, connection
        )
    return True


def _request_sent(started: StartedPayment, sent_at: datetime) -> TimelineEvent:
    return TimelineEvent(
        EventType.PROVIDER_REQUEST_SENT,
        "payment link requested from the provider",
        {"url": started.base_url, "idempotency_key": f"payment-{started.payment_id}"},
        created_at=sent_at,
    )


def _accepted_payload(link: ProviderLink, expires_at: datetime) -> dict[str, Any]:
    return {
        "payment_url": link.payment_url,
        "expires_at": _iso(expires_at),
        "attempts": link.attempts,
        "status_code": link.status_code,
    }


def answer_from_payment(payment: Payment) -> CreateAnswer:
    """The creation answer a payment's current state stands for (used to finish a taken-over
    idempotency key)."""
    if payment.status == PaymentStatus.FAILED and payment.payment_url is None:
        return _failure_answer(payment.id, ProviderFailed())
    return created_answer(payment)


def created_answer(payment: Payment) -> CreateAnswer:
    return CreateAnswer(
        201,
        {"payment_id": payment.id, "status": payment.status, "payment_url": payment.payment_url},
    )


def _accepted(settings: Settings, payment: Payment, link: ProviderLink) -> CreateAnswer:
    expires_at = link.expires_at or utcnow() + timedelta(seconds=settings.payment_link_ttl_seconds)
    # A payment the sweep abandoned meanwhile (failed, token refunded) must not get a link a
    # customer could pay; one the provider already reported finished may keep it for reference.
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.EXPIRED):
        return answer_from_payment(payment)
    if payment.payment_url is None:
        payment.payment_url = link.payment_url
        payment.expires_at = payment.expires_at or expires_at
    record_event(
        payment.id,
        EventType.PROVIDER_PAYMENT_ACCEPTED,
        "the provider issued a payment link",
        _accepted_payload(link, expires_at),
    )
    return created_answer(payment)


def _failed(payment: Payment, failure: ProviderCallFailed) -> CreateAnswer:
    record_event(
        payment.id,
        EventType.PROVIDER_REQUEST_FAILED,
        f"the provider call failed: {failure.detail}",
        {"reason": failure.kind, "attempts": failure.attempts, "status_code": failure.status_code},
        status=LogStatus.FAILED,
    )
    if payment.status == PaymentStatus.PENDING:
        payment.status = PaymentStatus.FAILED
        refund_token(payment.user_subscription_id)
        record_event(
            payment.id,
            EventType.TOKEN_REFUNDED,
            "token given back: the payment never got a link",
            {"user_subscription_id": payment.user_subscription_id},
        )
    elif payment.status != PaymentStatus.FAILED:
        # The provider's webhook already moved it on: the payment exists, so does its link.
        return created_answer(payment)
    error_class = ProviderUnreachable if failure.kind == "unreachable" else ProviderFailed
    error = error_class(f"{error_class.message[:-1]}: {failure.detail}.")
    return _failure_answer(payment.id, error)


def _failure_answer(payment_id: int, error: ProviderFailed | ProviderUnreachable) -> CreateAnswer:
    error.extra = {"payment_id": payment_id}
    return CreateAnswer(error.http_status, service_error_body(error))


def _iso(moment: datetime) -> str:
    return moment.isoformat()
