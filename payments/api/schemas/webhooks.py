"""Schemas of the provider webhook and the redeliver action (and their OpenAPI examples)."""

from marshmallow import Schema, fields

from payments.domain.statuses import PaymentStatus, ProviderReport

REPORT_EXAMPLE = {"payment_id": 7, "status": "finished"}


class ProviderReportSchema(Schema):
    """Documentation of the raw body; the view parses it itself, after checking its signature."""

    payment_id = fields.Integer(
        required=True, metadata={"description": "The payment (our id).", "example": 7}
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "The payment's result at the provider.",
            "enum": [report.value for report in ProviderReport],
            "example": ProviderReport.FINISHED.value,
        },
    )


class ReportAnswerSchema(Schema):
    """`{"message": "already processed"}` alone when the same report came before."""

    message = fields.String(
        metadata={
            "description": '"processed", or "already processed" when the same report came before '
            "(then nothing else is returned, and nothing changes).",
            "example": "processed",
        }
    )
    payment_id = fields.Integer(metadata={"description": "The payment.", "example": 7})
    status = fields.String(
        metadata={
            "description": "The payment's new status.",
            "enum": [status.value for status in PaymentStatus],
            "example": PaymentStatus.FINISHED.value,
        }
    )


class RedeliverAnswerSchema(Schema):
    queued = fields.Integer(
        required=True,
        metadata={
            "description": "Notifications queued for delivery again (0 when the payment has "
            "none yet, i.e. it is still pending).",
            "example": 1,
        },
    )
