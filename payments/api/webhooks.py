"""The provider's signed result webhook and the merchant's redeliver action."""

from flask import current_app, request
from flask_smorest import Blueprint

from payments.api import RAW_BODY_ENDPOINTS
from payments.api import error_docs as E
from payments.api.auth import current_merchant_id, merchant_required
from payments.api.openapi import TAG_NOTIFICATIONS, TAG_PROVIDER
from payments.api.schemas.webhooks import (
    REPORT_EXAMPLE,
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
    "operationId": "reportPaymentResult",
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
            "application/json": {"schema": ProviderReportSchema, "example": REPORT_EXAMPLE}
        },
    },
}


@blp.post("/webhook", tags=[TAG_PROVIDER])
@blp.doc(**_WEBHOOK_DOC)
@blp.response(200, ReportAnswerSchema, description="Applied, or already applied before.")
@E.error_responses(
    blp,
    E.INVALID_SIGNATURE,
    E.PAYMENT_NOT_FOUND,
    E.INVALID_TRANSITION,
    E.PAYLOAD_TOO_LARGE,
    E.REPORT_INVALID,
)
def provider_webhook():
    """The provider reports a payment's result

    Moves a pending payment to `PAYMENT_FINISHED`, `PAYMENT_FAILED` or `PAYMENT_EXPIRED` and,
    in the same transaction, records the event and the merchant notification to send. The same
    report again changes nothing (`200 already processed`); a report contradicting a final
    status is `409`. Authenticated by `X-Internal-Signature`, not by an API key.
    """
    outcome = receive_provider_report(
        current_app.extensions["payments_settings"].internal_webhook_secret,
        request.get_data(cache=False),
        request.headers.get(SIGNATURE_HEADER),
    )
    if not outcome.applied:
        return {"message": "already processed"}
    return {"message": "processed", "payment_id": outcome.payment_id, "status": outcome.status}


@blp.post(
    "/<int:payment_id>/notifications/redeliver",
    tags=[TAG_NOTIFICATIONS],
    parameters=[{"in": "path", "name": "payment_id", "description": "The payment.", "example": 1}],
)
@blp.doc(operationId="redeliverNotifications")
@merchant_required
@blp.response(202, RedeliverAnswerSchema, description="Queued; delivery follows shortly.")
@E.error_responses(blp, E.PAYMENT_NOT_FOUND, *E.MERCHANT_ERRORS)
def redeliver_notifications(payment_id: int):
    """Send a payment's notifications again

    Queues the payment's merchant notifications for delivery again, whether they were
    delivered or failed (e.g. after fixing your endpoint).

    **What your endpoint receives.** When a payment reaches `PAYMENT_FINISHED`,
    `PAYMENT_FAILED` or `PAYMENT_EXPIRED`, your callback URL gets a `POST` (type
    `payment.finished`, `payment.failed` or `payment.expired`):

    ```json
    {"type": "payment.finished", "payment_id": 7, "order_id": 1001, "merchant_id": 1,
     "status": "PAYMENT_FINISHED", "amount": "10.50", "price": "10.50", "currency": "USD",
     "timestamp": "2026-01-15T09:31:02.512000+00:00"}
    ```

    It is signed per Standard Webhooks: headers `webhook-id` (the same on every retry of one
    notification: de-duplicate by it), `webhook-timestamp` and `webhook-signature`, with your
    webhook secret (`whsec_...`). Verify it with the `standardwebhooks` library:
    `Webhook(secret).verify(raw_body, headers)`.

    **Retries.** Any 2xx within `NOTIFY_TIMEOUT_SECONDS` is success; `410` stops. Anything else
    is retried on the `NOTIFY_RETRY_SCHEDULE` (honouring `Retry-After`), then the notification
    is `LOG_FAILED` until redelivered here. Delivery is at least once.
    """
    return {"queued": redeliver_payment(current_merchant_id(), payment_id)}
