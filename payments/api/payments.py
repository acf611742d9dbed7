"""Merchant endpoints of /api/v1/payments: create, list, show, tracking.

Every endpoint authenticates first (`merchant_required`), then parses, calls one service and
shapes the answer. A path id that is not a positive 64-bit integer matches no route: 404 JSON.
Docstrings and decorators are also the OpenAPI reference (summary: first line).
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask_smorest import Blueprint

from payments.api import error_docs as E
from payments.api.auth import current_merchant_id, merchant_required
from payments.api.openapi import TAG_PAYMENTS
from payments.api.schemas.payments import (
    CREATE_EXAMPLE,
    MAX_BIGINT,
    CreatePaymentSchema,
    IdempotencyHeaderSchema,
    PaymentCreatedSchema,
    PaymentDetailSchema,
    PaymentExistsSchema,
    PaymentListQuerySchema,
    PaymentPageSchema,
    TrackingSchema,
)
from payments.services import queries
from payments.services.create_payment import CreatePaymentCommand, create_payment
from payments.services.provider_link import CreateAnswer

blp = Blueprint(
    "payments",
    __name__,
    url_prefix="/api/v1/payments",
    description="Create payments and read them (authenticated with X-API-Key).",
)

PAYMENT_ID = f"<int(max={MAX_BIGINT}):payment_id>"
_PAYMENT_ID_DOC = {
    "in": "path",
    "name": "payment_id",
    "description": "The payment's id, as `payment_id` in the creation answer.",
    "example": 1,
}
_REPLAYED = {"Idempotent-Replayed": "Idempotent-Replayed"}
_READ_ERRORS = (*E.MERCHANT_ERRORS, E.PAYMENT_NOT_FOUND)


def _settings():
    return current_app.extensions["payments_settings"]


@blp.post("", tags=[TAG_PAYMENTS])
@blp.doc(operationId="createPayment")
@merchant_required
# Schema instances, not classes: webargs would build a new schema from a class on every request.
@blp.arguments(IdempotencyHeaderSchema(), location="headers")
@blp.arguments(
    CreatePaymentSchema(),
    example=CREATE_EXAMPLE,
    description="The example works with the demo data: change `order_id` for each new payment.",
)
@blp.response(
    201,
    PaymentCreatedSchema,
    description="Payment created and pending; send the customer to `payment_url`.",
    headers={"Location": "Location", **_REPLAYED},
)
@blp.alt_response(
    200,
    schema=PaymentExistsSchema,
    description="The order already has a pending or finished payment: that one, unchanged "
    "(no token spent).",
    headers=_REPLAYED,
    success=True,
)
@E.error_responses(
    blp,
    E.PROVIDER_NOT_FOUND,
    E.SUBSCRIPTION_NOT_FOUND,
    E.SUBSCRIPTION_EXHAUSTED,
    E.IDEMPOTENCY_KEY_IN_USE,
    E.PAYLOAD_TOO_LARGE,
    E.UNSUPPORTED_MEDIA_TYPE,
    E.VALIDATION,
    E.IDEMPOTENCY_KEY_MISMATCH,
    E.PROVIDER_UNREACHABLE,
    E.PROVIDER_ERROR,
    E.SERVICE_UNAVAILABLE,
    *E.MERCHANT_ERRORS,
)
def create(headers: dict, body: dict):
    """Create a payment and get its payment link

    Spends one token of the subscription, asks the provider for a payment link and answers
    `201` with it. Send your customer to `payment_url`; the result comes later as a signed
    notification to your webhook endpoint (see *Notifications*) and in the payment's tracking.

    **One payment per order.** While an order (`order_id`) has a pending or finished payment,
    creating another answers `200 payment already exists` with that payment and spends nothing:
    in *Try it out*, change `order_id` to create a new one. An order whose payments all failed
    or expired may be paid again.

    **Safe retries.** With an `Idempotency-Key` header (or `event_id`), the same key and body
    within 24 h answer the first answer again, a `502` included, marked
    `Idempotent-Replayed: true`: no second payment, provider call or token.

    **Provider failures.** If the provider cannot be reached or answers an error within
    `PROVIDER_TIMEOUT_SECONDS`, the answer is `502` with the `payment_id`: that payment is
    `PAYMENT_FAILED` and its token is given back.
    """
    command = CreatePaymentCommand(
        merchant_id=current_merchant_id(),
        idempotency_key=headers.get("idempotency_key"),
        **body,
    )
    return _answer(create_payment(_settings(), command))


@blp.get("", tags=[TAG_PAYMENTS])
@blp.doc(operationId="listPayments")
@merchant_required
@blp.arguments(PaymentListQuerySchema(), location="query")
@blp.response(200, PaymentPageSchema, description="One page of your payments, newest first.")
@E.error_responses(blp, E.VALIDATION, *E.MERCHANT_ERRORS)
def list_payments(query: dict):
    """List your payments, newest first

    Paged with `page` and `limit`; filter by `status` and/or `order_id`.
    `has_next` tells whether another page exists.
    """
    where = queries.PaymentFilter(
        current_merchant_id(), status=query.get("status"), order_id=query.get("order_id")
    )
    return queries.list_payments(_settings(), where, query["page"], query["limit"])


@blp.get(f"/{PAYMENT_ID}", tags=[TAG_PAYMENTS], parameters=[_PAYMENT_ID_DOC])
@blp.doc(operationId="getPayment")
@merchant_required
@blp.response(200, PaymentDetailSchema, description="The payment.")
@E.error_responses(blp, *_READ_ERRORS)
def show(payment_id: int):
    """Get one payment

    The payment's current status, amounts, link and times. `Location` of the creation answer
    points here.
    """
    return queries.get_payment(current_merchant_id(), payment_id)


@blp.get(f"/{PAYMENT_ID}/show", tags=[TAG_PAYMENTS], parameters=[_PAYMENT_ID_DOC])
@blp.doc(operationId="showPayment")
@merchant_required
@blp.response(200, PaymentDetailSchema, description="The payment.")
@E.error_responses(blp, *_READ_ERRORS)
def show_legacy(payment_id: int):
    """Get one payment (the old service's path)

    The same answer as `GET /api/v1/payments/{payment_id}`, kept for existing integrations.
    """
    return queries.get_payment(current_merchant_id(), payment_id)


@blp.get(f"/{PAYMENT_ID}/tracking", tags=[TAG_PAYMENTS], parameters=[_PAYMENT_ID_DOC])
@blp.doc(operationId="trackPayment")
@merchant_required
@blp.response(200, TrackingSchema, description="The payment's status and timeline.")
@E.error_responses(blp, *_READ_ERRORS)
def tracking(payment_id: int):
    """Follow a payment's timeline, oldest first

    Every state change and every provider call appears: creation, the link request and answer,
    the provider's report, expiry, a token given back. The merchant notification appears as
    `EVENT_MERCHANT_NOTIFICATION_SENT` with its delivery state (`status`), `attempts`,
    `next_retry_at`, `last_response_code` and `last_error`.
    """
    return queries.get_tracking(current_merchant_id(), payment_id)


def _answer(answer: CreateAnswer):
    response = jsonify(answer.body)
    response.status_code = answer.status_code
    if answer.location:
        response.headers["Location"] = answer.location
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
