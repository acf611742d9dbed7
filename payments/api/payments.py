"""Merchant endpoints of /api/v1/payments: create, list, show, tracking.

Every endpoint authenticates first (`merchant_required`), then parses, calls one service and
shapes the answer. A path id that is not a positive 64-bit integer matches no route: 404 JSON.
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask_smorest import Blueprint

from payments.api.auth import current_merchant_id, merchant_required
from payments.api.schemas.payments import (
    CREATE_EXAMPLE,
    MAX_BIGINT,
    ApiErrorSchema,
    CreatePaymentSchema,
    IdempotencyHeaderSchema,
    PaymentCreatedSchema,
    PaymentDetailSchema,
    PaymentExistsSchema,
    PaymentListQuerySchema,
    PaymentPageSchema,
    ProviderFailureSchema,
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
_HEADER = {"schema": {"type": "string"}}
_BAD_REFERENCE = "provider_not_found (alias) or subscription_not_found (plan not subscribed)"


def _settings():
    return current_app.extensions["payments_settings"]


@blp.post("")
@merchant_required
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(CreatePaymentSchema, example=CREATE_EXAMPLE)
@blp.response(
    201,
    PaymentCreatedSchema,
    description="Payment created; its link came from the provider.",
    headers={"Location": {**_HEADER, "description": "/api/v1/payments/<payment_id>"}},
)
@blp.alt_response(200, schema=PaymentExistsSchema, description="The order already has a payment.")
@blp.alt_response(400, schema=ApiErrorSchema, description=_BAD_REFERENCE)
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.alt_response(402, schema=ApiErrorSchema, description="subscription_exhausted")
@blp.alt_response(403, schema=ApiErrorSchema, description="merchant_mismatch")
@blp.alt_response(
    409,
    schema=ApiErrorSchema,
    description="idempotency_key_in_use: the first request with this key is still running.",
    headers={"Retry-After": _HEADER},
)
@blp.alt_response(
    429, schema=ApiErrorSchema, description="rate_limited", headers={"Retry-After": _HEADER}
)
@blp.alt_response(
    502,
    schema=ProviderFailureSchema,
    description="provider_unreachable or provider_error; the payment failed, its token is back.",
)
def create(headers: dict, body: dict):
    """Create a payment and obtain its payment link from the provider."""
    command = CreatePaymentCommand(
        merchant_id=current_merchant_id(),
        idempotency_key=headers.get("idempotency_key"),
        **body,
    )
    return _answer(create_payment(_settings(), command))


@blp.get("")
@merchant_required
@blp.arguments(PaymentListQuerySchema, location="query")
@blp.response(200, PaymentPageSchema)
def list_payments(query: dict):
    """The merchant's payments, newest first."""
    where = queries.PaymentFilter(
        current_merchant_id(), status=query.get("status"), order_id=query.get("order_id")
    )
    return queries.list_payments(_settings(), where, query["page"], query["limit"])


@blp.get(f"/{PAYMENT_ID}")
@merchant_required
@blp.response(200, PaymentDetailSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="No such payment of this merchant.")
def show(payment_id: int):
    """One payment of the merchant."""
    return queries.get_payment(current_merchant_id(), payment_id)


@blp.get(f"/{PAYMENT_ID}/show")
@merchant_required
@blp.response(200, PaymentDetailSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="No such payment of this merchant.")
def show_legacy(payment_id: int):
    """One payment of the merchant (the old service's path)."""
    return queries.get_payment(current_merchant_id(), payment_id)


@blp.get(f"/{PAYMENT_ID}/tracking")
@merchant_required
@blp.response(200, TrackingSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="No such payment of this merchant.")
def tracking(payment_id: int):
    """The payment's timeline, oldest first."""
    return queries.get_tracking(current_merchant_id(), payment_id)


def _answer(answer: CreateAnswer):
    response = jsonify(answer.body)
    response.status_code = answer.status_code
    if answer.location:
        response.headers["Location"] = answer.location
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
