"""Schemas of the provider webhook and the redeliver action (and their OpenAPI examples)."""

from marshmallow import Schema, fields

from payments.domain.statuses import PaymentStatus, ProviderReport


class ProviderReportSchema(Schema):
    """Documentation of the raw body; the view parses it itself, after checking its signature."""

    payment_id = fields.Integer(required=True, metadata={"example": 42})
    status = fields.String(
        required=True,
        metadata={"enum": [report.value for report in ProviderReport], "example": "finished"},
    )


class ReportAnswerSchema(Schema):
    """`{"message": "already processed"}` alone when the same report came before."""

    message = fields.String(metadata={"example": "processed"})
    payment_id = fields.Integer(metadata={"example": 42})
    status = fields.String(
        metadata={"enum": [status.value for status in PaymentStatus], "example": "PAYMENT_FINISHED"}
    )


class RedeliverAnswerSchema(Schema):
    queued = fields.Integer(
        required=True,
        metadata={"description": "Notifications queued for delivery again.", "example": 1},
    )
