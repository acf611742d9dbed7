"""Schemas of /api/v1/payments: strict parsing of what merchants send, and the answers.

Every field carries a description and an example: they are the API's reference documentation
(Swagger UI at /docs shows them next to each operation).
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from payments.api.schemas.fields import (
    MAX_BIGINT,
    MoneyInput,
    MoneyOutput,
    PlainString,
    StrictInteger,
)
from payments.domain.statuses import EventType, LogStatus, PaymentStatus

MAX_PAGE = 10**9

_CURRENCY_ERROR = "Must be an ISO 4217 code such as USD."
_PAYMENT_STATUSES = [status.value for status in PaymentStatus]
_TIME = "2026-01-15T09:30:00.123456+00:00"
_PAYMENT_URL = "http://127.0.0.1:8000/sandbox/pay/.eJxFizsOgCAUBO-yNTFQ2FB7A2NtCLxE"

# Valid against the seeded demo data (plan 1 is Basic, provider alias "stripe"). No event_id:
# it would be an idempotency key, and Swagger UI users edit order_id and execute again.
CREATE_EXAMPLE = {
    "order_id": 1001,
    "amount": "10.50",
    "price": "10.50",
    "alias": "stripe",
    "subscription_id": 1,
    "currency": "USD",
}


class CreatePaymentSchema(Schema):
    # Fields beyond these are ignored, as the old service did, so existing clients keep working.
    class Meta:
        unknown = EXCLUDE

    order_id = StrictInteger(
        required=True,
        metadata={
            "description": "Your order's id (a JSON integer > 0). One order has at most one "
            "pending or finished payment.",
            "example": 1001,
        },
    )
    amount = MoneyInput(description="The amount to charge.")
    price = MoneyInput(description="The order's price, recorded with the payment.")
    alias = PlainString(
        required=True,
        validate=validate.Length(1, 64),
        metadata={
            "description": "The payment provider's alias (demo data: stripe, paypal, adyen).",
            "example": "stripe",
        },
    )
    subscription_id = StrictInteger(
        required=True,
        metadata={
            "example": 1,
            "description": "The plan (subscriptions.id) of one of your active subscriptions; "
            "each payment spends one of its tokens (demo data: 1 = Basic).",
        },
    )
    event_id = PlainString(
        allow_none=True,
        validate=validate.Length(1, 255),
        metadata={
            "description": "Your request id; the idempotency key when the Idempotency-Key "
            "header is absent.",
            "example": "evt_3f9c2a",
        },
    )
    currency = fields.String(
        load_default="USD",
        # Length first: `$` alone would let "USD\n" through; the pattern also suits Swagger UI.
        validate=[validate.Length(equal=3), validate.Regexp(r"^[A-Z]{3}$", error=_CURRENCY_ERROR)],
        metadata={"description": "ISO 4217 code.", "example": "USD"},
    )


class IdempotencyHeaderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    # No example on purpose: Swagger UI would pre-fill it, and every edited body sent with the
    # same key would be refused (422 idempotency_key_mismatch).
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.Length(1, 255),
        metadata={
            "description": "Makes a retry safe: the same key with the same body within 24 h "
            "replays the first answer (header Idempotent-Replayed: true) instead of creating "
            "another payment. 1 to 255 characters, e.g. order-1001-try-1."
        },
    )


class PaymentCreatedSchema(Schema):
    payment_id = fields.Integer(
        required=True, metadata={"description": "The new payment's id.", "example": 7}
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "The payment's status.",
            "enum": _PAYMENT_STATUSES,
            "example": PaymentStatus.PENDING.value,
        },
    )
    payment_url = fields.String(
        allow_none=True,
        metadata={
            "description": "Where to send the customer to pay (the provider's checkout).",
            "example": _PAYMENT_URL,
        },
    )


class PaymentExistsSchema(PaymentCreatedSchema):
    message = fields.String(
        required=True,
        metadata={
            "description": "The order already has this payment; nothing new was created.",
            "example": "payment already exists",
        },
    )


class PaymentListQuerySchema(Schema):
    # No examples: Swagger UI would pre-fill them and filter the list.
    page = fields.Integer(
        load_default=1,
        validate=validate.Range(1, MAX_PAGE),
        metadata={"description": "Page number, from 1."},
    )
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(1, 100),
        metadata={"description": "Payments per page, 1 to 100."},
    )
    status = fields.String(
        validate=validate.OneOf(_PAYMENT_STATUSES),
        metadata={"description": "Only payments in this status."},
    )
    order_id = fields.Integer(
        validate=validate.Range(1, MAX_BIGINT),
        metadata={"description": "Only the payments of this order."},
    )


class PaymentItemSchema(Schema):
    payment_id = fields.Integer(
        required=True, metadata={"description": "The payment's id.", "example": 7}
    )
    order_id = fields.Integer(
        required=True, metadata={"description": "Your order's id.", "example": 1001}
    )
    provider = fields.String(
        required=True, metadata={"description": "The provider's alias.", "example": "stripe"}
    )
    amount = MoneyOutput(required=True, description="The amount charged.")
    price = MoneyOutput(required=True, description="The order's price.")
    currency = fields.String(
        required=True, metadata={"description": "ISO 4217 code.", "example": "USD"}
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "PAYMENT_PENDING until the provider reports a result (or the link "
            "expires); then final.",
            "enum": _PAYMENT_STATUSES,
            "example": PaymentStatus.FINISHED.value,
        },
    )
    created_at = fields.DateTime(
        required=True, metadata={"description": "When it was created (UTC).", "example": _TIME}
    )


class PaymentPageSchema(Schema):
    page = fields.Integer(required=True, metadata={"description": "This page.", "example": 1})
    limit = fields.Integer(
        required=True, metadata={"description": "Payments per page.", "example": 20}
    )
    total = fields.Integer(
        required=True,
        metadata={
            "description": "Payments matching the filters (for a merchant with very many, "
            "may lag new ones by up to 30 s).",
            "example": 1,
        },
    )
    has_next = fields.Boolean(
        required=True, metadata={"description": "Whether a next page exists.", "example": False}
    )
    items = fields.List(
        fields.Nested(PaymentItemSchema),
        required=True,
        metadata={"description": "The payments of this page, newest first."},
    )


class PaymentDetailSchema(PaymentItemSchema):
    payment_url = fields.String(
        allow_none=True,
        metadata={
            "description": "The provider's checkout link (null if the provider gave none).",
            "example": _PAYMENT_URL,
        },
    )
    expires_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When the link expires; a payment still pending then becomes "
            "PAYMENT_EXPIRED.",
            "example": "2026-01-16T09:30:00+00:00",
        },
    )
    updated_at = fields.DateTime(
        required=True, metadata={"description": "Last change (UTC).", "example": _TIME}
    )


class TrackingEventSchema(Schema):
    event_type = fields.String(
        required=True,
        metadata={
            "description": "What happened.",
            "enum": [event.value for event in EventType],
            "example": EventType.PAYMENT_CREATED.value,
        },
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "LOG_SUCCESS for facts; for the merchant notification, its delivery "
            "state (LOG_PENDING, LOG_PROCESSING, LOG_RETRYING, LOG_SUCCESS or LOG_FAILED).",
            "enum": [status.value for status in LogStatus],
            "example": LogStatus.SUCCESS.value,
        },
    )
    message = fields.String(
        required=True,
        metadata={"description": "For humans.", "example": "payment created; a token was spent"},
    )
    payload = fields.Dict(
        allow_none=True,
        metadata={
            "description": "Details of the event (provider answer, reported status...).",
            "example": {"order_id": 1001, "amount": "10.50", "currency": "USD"},
        },
    )
    timestamp = fields.DateTime(
        required=True, metadata={"description": "When it happened (UTC).", "example": _TIME}
    )
    # Present on EVENT_MERCHANT_NOTIFICATION_SENT rows only.
    attempts = fields.Integer(
        metadata={
            "description": "Notification only: delivery attempts made so far.",
            "example": 1,
        }
    )
    next_retry_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "Notification only: when the next attempt is due.",
            "example": None,
        },
    )
    last_response_code = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Notification only: your endpoint's last HTTP status.",
            "example": 204,
        },
    )
    last_error = fields.String(
        allow_none=True,
        metadata={
            "description": "Notification only: why the last attempt failed.",
            "example": None,
        },
    )


class TrackingSchema(Schema):
    payment_id = fields.Integer(
        required=True, metadata={"description": "The payment's id.", "example": 7}
    )
    payment_status = fields.String(
        required=True,
        metadata={
            "description": "The payment's status now.",
            "enum": _PAYMENT_STATUSES,
            "example": PaymentStatus.FINISHED.value,
        },
    )
    events = fields.List(
        fields.Nested(TrackingEventSchema),
        required=True,
        metadata={"description": "The timeline, oldest first."},
    )
