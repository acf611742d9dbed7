"""What the OpenAPI document says beyond the blueprints: the introduction, the tags in reading
order, the shared response headers, and the conventions every response follows.

Swagger UI (/docs) renders it, and "Try it out" sends requests to this same service: the only
server is the relative "/", never another host.
"""

from __future__ import annotations

from apispec import BasePlugin
from flask_smorest import Api

from payments.config import Settings

TAG_PAYMENTS = "Payments"
TAG_NOTIFICATIONS = "Notifications"
TAG_PROVIDER = "Provider webhooks"
TAG_HEALTH = "Health"

TAGS = [
    {
        "name": TAG_PAYMENTS,
        "description": "Create a payment and read it back: one payment, your list, its timeline.",
    },
    {
        "name": TAG_NOTIFICATIONS,
        "description": "Signed webhooks to your endpoint when a payment ends; send them again.",
    },
    {
        "name": TAG_PROVIDER,
        "description": "Called by the payment provider, not by merchants: a payment's result.",
    },
    {"name": TAG_HEALTH, "description": "Liveness and readiness probes; no authentication."},
]

_STRING = {"type": "string"}
HEADERS = {
    "X-Request-Id": {
        "description": "The request's id: yours if you sent `X-Request-Id`, else a new one. The "
        "provider call and the merchant notifications caused by the request carry it too.",
        "schema": _STRING,
        "example": "8880bc4005304cc8b9f036d6c23bfdfc",
    },
    "Location": {
        "description": "The new payment: `/api/v1/payments/{payment_id}`.",
        "schema": _STRING,
        "example": "/api/v1/payments/7",
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
        "example": "true",
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
        "example": 1,
    },
}

_QUICK_START_SANDBOX = """
### Try it from this page
1. Press **Authorize** and paste an `X-API-Key`: `make run` printed three demo keys, and the
   [home page](/) lists them.
2. Open **POST /api/v1/payments**. The example works with the demo data; change its `order_id`
   to a number of your own (one order has at most one open payment) and press **Execute**.
   The answer is `201` with a `payment_url`.
3. Open the `payment_url`: the sandbox checkout. Press **Pay** (or Decline, or Let the link
   expire).
4. The [merchant inbox](/sandbox/merchant) shows the signed `payment.finished` notification;
   **GET /api/v1/payments/{payment_id}/tracking** shows the whole timeline.
"""

_QUICK_START = """
### Try it from this page
Press **Authorize** and paste your `X-API-Key`, open an operation and press **Execute**.
"""

_REFERENCE = """
### Authentication
Send `X-API-Key: <key>`. An optional `X-Merchant-Id` must then name the key's merchant (else
`403 merchant_mismatch`). Behind a gateway (`AUTH_MODE=gateway`) the gateway's `X-Merchant-Id`
identifies the merchant instead. You only ever see your own payments.

### Retries and idempotency
Send an `Idempotency-Key` header (or `event_id` in the body) with a creation request and retry
it freely: the same key with the same body within 24 h answers the first answer again (header
`Idempotent-Replayed: true`), without a second payment, provider call or token.
Independently, an order (`order_id`) with a pending or finished payment answers
`200 payment already exists`; an order whose payments all failed or expired can be paid again.

### Errors
Every error is JSON in one shape: `{"code", "status", "message", "error"}`, plus `errors` (a
message per field) on `422 validation_error`. Branch on `error`; each operation lists its codes.

### Request ids
Every answer carries `X-Request-Id` (yours if you sent one), and so do the provider call and the
notifications the request causes: quote it when you ask for help.
"""


def spec_options(settings: Settings) -> dict:
    """API_SPEC_OPTIONS. A new dict each call: apispec merges the generated document into it."""
    quick_start = _QUICK_START_SANDBOX if settings.sandbox_enabled else _QUICK_START
    return {
        "info": {
            "description": "Create a payment, send your customer to its `payment_url`, and learn "
            "the result from a signed webhook to your endpoint; every payment's timeline can "
            "be read back at any time.\n" + quick_start + _REFERENCE,
        },
        "servers": [{"url": "/", "description": "This service"}],
        "tags": [dict(tag) for tag in TAGS],
        "components": {
            # flask-smorest's `default` response of every operation, worded for this API.
            "responses": {
                "DEFAULT_ERROR": {
                    "description": "Any other error, in the same shape (e.g. `500 internal_error`)."
                }
            },
        },
    }


class ResponseConventions(BasePlugin):
    """Every response carries X-Request-Id; responses are listed by status code."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            responses = operation.get("responses", {})
            for response in responses.values():
                if isinstance(response, dict):
                    response.setdefault("headers", {}).setdefault("X-Request-Id", "X-Request-Id")
            operation["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))


def init_docs(api: Api) -> None:
    """Before the blueprints register: the shared headers, and ResponseConventions."""
    for name, header in HEADERS.items():
        api.spec.components.header(name, header)
    plugin = ResponseConventions()
    plugin.init_spec(api.spec)
    api.spec.plugins.append(plugin)


# Swagger UI's options (flask-smorest passes them to SwaggerUIBundle).
SWAGGER_UI_CONFIG = {
    "persistAuthorization": True,
    "tryItOutEnabled": True,
    "deepLinking": True,
    "displayRequestDuration": True,
    "docExpansion": "list",
    # Each operation shows its own schemas; the global list would only add flask-smorest's.
    "defaultModelsExpandDepth": -1,
    # The validator badge would call validator.swagger.io: nothing leaves this service.
    "validatorUrl": None,
}
