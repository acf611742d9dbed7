"""Schemas of /api/v1/payments: strict parsing of what merchants send, and the answers."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from payments.api.schemas.fields import MAX_BIGINT, MoneyInput, MoneyOutput, StrictInteger
from payments.domain.statuses import PaymentStatus

MAX_PAGE = 10**9

_CURRENCY_ERROR = "Must be an ISO 4217 code such as USD."

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

    order_id = StrictInteger(required=True, metadata={"example": 1001})
    amount = MoneyInput()
    price = MoneyInput()
    alias = fields.String(
        required=True, validate=validate.Length(1, 64), metadata={"example": "stripe"}
    )
    subscription_id = StrictInteger(
        required=True,
        metadata={"example": 1, "description": "The plan (subscriptions.id) subscribed to."},
    )
    event_id = fields.String(
        allow_none=True,
        validate=validate.Length(1, 255),
        metadata={"description": "Idempotency key when the Idempotency-Key header is absent."},
    )
    currency = fields.String(
        load_default="USD",
        # Length first: `$` alone would let "USD\n" through; the pattern also suits Swagger UI.
        validate=[validate.Length(equal=3), validate.Regexp(r"^[A-Z]{3}$", error=_CURRENCY_ERROR)],
        metadata={"example": "USD"},
    )


class IdempotencyHeaderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.Length(1, 255),
        metadata={"description": "Same key + same body within 24 h replays the first answer."},
    )


class PaymentCreatedSchema(Schema):
    payment_id = fields.Integer(required=True, metadata={"example": 1})
    status = fields.String(required=True, metadata={"example": PaymentStatus.PENDING.value})
    payment_url = fields.String(allow_none=True)


class PaymentExistsSchema(PaymentCreatedSchema):
    message = fields.String(required=True, metadata={"example": "payment already exists"})


class ApiErrorSchema(Schema):
    code = fields.Integer(required=True, metadata={"example": 400})
    status = fields.String(required=True, metadata={"example": "Bad Request"})
    message = fields.String(required=True)
    error = fields.String(required=True, metadata={"example": "provider_not_found"})
    errors = fields.Dict(metadata={"description": "Per-field messages (422 only)."})


class ProviderFailureSchema(ApiErrorSchema):
    payment_id = fields.Integer(required=True, metadata={"description": "The failed payment."})


class PaymentListQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    status = fields.String(validate=validate.OneOf([status.value for status in PaymentStatus]))
    order_id = fields.Integer(validate=validate.Range(1, MAX_BIGINT))


class PaymentItemSchema(Schema):
    payment_id = fields.Integer(required=True)
    order_id = fields.Integer(required=True)
    provider = fields.String(required=True, metadata={"example": "stripe"})
    amount = MoneyOutput(required=True)
    price = MoneyOutput(required=True)
    currency = fields.String(required=True, metadata={"example": "USD"})
    status = fields.String(required=True, metadata={"example": PaymentStatus.PENDING.value})
    created_at = fields.DateTime(required=True)


class PaymentPageSchema(Schema):
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    has_next = fields.Boolean(required=True)
    items = fields.List(fields.Nested(PaymentItemSchema), required=True)


class PaymentDetailSchema(PaymentItemSchema):
    payment_url = fields.String(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(required=True)


class TrackingEventSchema(Schema):
    event_type = fields.String(required=True, metadata={"example": "EVENT_PAYMENT_CREATED"})
    status = fields.String(required=True, metadata={"example": "LOG_SUCCESS"})
    message = fields.String(required=True)
    payload = fields.Dict(allow_none=True)
    timestamp = fields.DateTime(required=True)
    # Present on EVENT_MERCHANT_NOTIFICATION_SENT rows only.
    attempts = fields.Integer()
    next_retry_at = fields.DateTime(allow_none=True)
    last_response_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)


class TrackingSchema(Schema):
    payment_id = fields.Integer(required=True)
    payment_status = fields.String(required=True)
    events = fields.List(fields.Nested(TrackingEventSchema), required=True)
