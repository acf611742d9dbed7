"""The provider's signed result webhook and the merchant's redeliver action."""

from flask import current_app, request
from flask_smorest import Blueprint

from payments.api import RAW_BODY_ENDPOINTS
from payments.api.auth import current_merchant_id, merchant_required
from payments.api.schemas.payments import ApiErrorSchema
from payments.api.schemas.webhooks import (
    ProviderReportSchema,
    RedeliverAnswerSchema,
    ReportAnswerSchema,
)
from payments.services.outbox_admin import redeliver_payment
from payments.services.provider_reports import receive_provider_report

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/payments",
    description="Provider result reports and merchant notifications.",
)

SIGNATURE_HEADER = "X-Internal-Signature"
# The provider may send its report without a JSON Content-Type; the view reads the raw bytes.
RAW_BODY_ENDPOINTS.add("notifications.provider_webhook")
_WEBHOOK_DOC = {
    "security": [],
    "parameters": [
        {
            "in": "header",
            "name": SIGNATURE_HEADER,
            "required": True,
            "schema": {"type": "string"},
            "description": "Hex HMAC-SHA256 of the raw body with INTERNAL_WEBHOOK_SECRET.",
        }
    ],
    "requestBody": {
        "required": True,
        "description": "Signed as sent: the signature covers the raw bytes.",
        "content": {
            "application/json": {
                "schema": ProviderReportSchema,
                "example": {"payment_id": 42, "status": "finished"},
            }
        },
    },
}


@blp.post("/webhook")
@blp.doc(**_WEBHOOK_DOC)
@blp.response(200, ReportAnswerSchema)
@blp.alt_response(
    401, schema=ApiErrorSchema, description="Missing or invalid X-Internal-Signature."
)
@blp.alt_response(404, schema=ApiErrorSchema, description="Unknown payment.")
@blp.alt_response(
    409, schema=ApiErrorSchema, description="The report contradicts the payment's final status."
)
@blp.alt_response(
    422,
    schema=ApiErrorSchema,
    description="Not a JSON object with an integer payment_id and a status.",
)
def provider_webhook():
    """The payment provider reports a payment's result (finished, failed or expired)."""
    outcome = receive_provider_report(
        current_app.extensions["payments_settings"].internal_webhook_secret,
        request.get_data(cache=False),
        request.headers.get(SIGNATURE_HEADER),
    )
    if not outcome.applied:
        return {"message": "already processed"}
    return {"message": "processed", "payment_id": outcome.payment_id, "status": outcome.status}


@blp.post("/<int:payment_id>/notifications/redeliver")
@merchant_required
@blp.response(202, RedeliverAnswerSchema)
@blp.alt_response(401, schema=ApiErrorSchema, description="Missing or unknown X-API-Key.")
@blp.alt_response(404, schema=ApiErrorSchema, description="Unknown payment, or another merchant's.")
def redeliver_notifications(payment_id: int):
    """Queue the payment's merchant notifications again (delivered or failed)."""
    return {"queued": redeliver_payment(current_merchant_id(), payment_id)}
