"""The error answers of SPEC, as OpenAPI documentation: one entry per machine code, with the
body the error handler really sends (built by `error_body`), grouped per status on each
operation by `error_responses`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask_smorest import Blueprint

from payments.api.schemas.errors import ApiErrorSchema, ProviderFailureSchema
from payments.config import MAX_BODY_BYTES
from payments.errors import error_body


@dataclass(frozen=True)
class ErrorDoc:
    status: int
    code: str
    message: str  # as the service words it (an example)
    when: str  # when a client gets it
    extra: dict[str, Any] = field(default_factory=dict)
    headers: tuple[str, ...] = ()  # names of response header components it carries

    def example(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, extra=self.extra)


UNAUTHORIZED = ErrorDoc(
    401,
    "unauthorized",
    "Missing or unknown X-API-Key.",
    "No `X-API-Key`, or one that is unknown or revoked (gateway mode: no valid `X-Merchant-Id`).",
)
MERCHANT_MISMATCH = ErrorDoc(
    403,
    "merchant_mismatch",
    "X-Merchant-Id does not match the key.",
    "`X-Merchant-Id` was sent and names another merchant than the key's.",
)
RATE_LIMITED = ErrorDoc(
    429,
    "rate_limited",
    "More than 50 per 1 second requests; retry in 1 s.",
    "The merchant's rate limit (RATE_LIMIT_PER_MERCHANT) is spent; retry after `Retry-After`.",
    headers=("Retry-After",),
)
PAYMENT_NOT_FOUND = ErrorDoc(
    404,
    "payment_not_found",
    "Payment not found.",
    "No payment with this id belongs to you (another merchant's payment answers the same).",
)
VALIDATION = ErrorDoc(
    422,
    "validation_error",
    "The request is not valid; see `errors`.",
    "A field is missing or invalid; `errors` has a message per field.",
    extra={
        "errors": {
            "amount": [
                "Must be a decimal number: must have at most 8 digits after the decimal point."
            ]
        }
    },
)
PAYLOAD_TOO_LARGE = ErrorDoc(
    413,
    "payload_too_large",
    f"The request body is larger than {MAX_BODY_BYTES} bytes.",
    "The body is over 64 KiB.",
)
UNSUPPORTED_MEDIA_TYPE = ErrorDoc(
    415,
    "unsupported_media_type",
    "The request body must be JSON (Content-Type: application/json).",
    "The body is not declared as JSON.",
)
PROVIDER_NOT_FOUND = ErrorDoc(
    400,
    "provider_not_found",
    "Unknown provider alias 'acme'.",
    "`alias` names no provider.",
)
SUBSCRIPTION_NOT_FOUND = ErrorDoc(
    400,
    "subscription_not_found",
    "The subscription is not one of the merchant's active subscriptions.",
    "`subscription_id` is not the plan of one of your active subscriptions.",
)
SUBSCRIPTION_EXHAUSTED = ErrorDoc(
    402,
    "subscription_exhausted",
    "No tokens left.",
    "The subscription's tokens are all spent.",
)
IDEMPOTENCY_KEY_IN_USE = ErrorDoc(
    409,
    "idempotency_key_in_use",
    "A request with this idempotency key is still being processed; retry later.",
    "The first request with this key is still running; retry after `Retry-After`.",
    headers=("Retry-After",),
)
IDEMPOTENCY_KEY_MISMATCH = ErrorDoc(
    422,
    "idempotency_key_mismatch",
    "This idempotency key was used with a different request body.",
    "This key was used within 24 h with a different body.",
)
PROVIDER_UNREACHABLE = ErrorDoc(
    502,
    "provider_unreachable",
    "The payment provider is unreachable.",
    "The provider did not answer within PROVIDER_TIMEOUT_SECONDS.",
    extra={"payment_id": 7},
)
PROVIDER_ERROR = ErrorDoc(
    502,
    "provider_error",
    "The payment provider answered an error.",
    "The provider answered with an error.",
    extra={"payment_id": 7},
)
SERVICE_UNAVAILABLE = ErrorDoc(
    503,
    "service_unavailable",
    "The idempotency key is contended; retry shortly.",
    "A rare contention on the same idempotency key; retry shortly.",
)
INVALID_SIGNATURE = ErrorDoc(
    401,
    "invalid_signature",
    "Missing or invalid signature.",
    "`X-Internal-Signature` is missing or is not the HMAC of the raw body.",
)
INVALID_TRANSITION = ErrorDoc(
    409,
    "invalid_transition",
    "The payment is already PAYMENT_FINISHED; the provider now reports failed.",
    "The report contradicts the payment's final status.",
)
REPORT_INVALID = ErrorDoc(
    422,
    "validation_error",
    "The request is not valid; see `errors`.",
    "Not a JSON object with an integer `payment_id` and a `status` of finished, failed or expired.",
    extra={"errors": {"status": ["Must be one of: finished, failed, expired."]}},
)

MERCHANT_ERRORS = (UNAUTHORIZED, MERCHANT_MISMATCH, RATE_LIMITED)


def error_responses(blp: Blueprint, *docs: ErrorDoc):
    """Document these errors on the decorated view: one response per status, listing its
    machine codes, with an example body per code."""
    by_status: dict[int, list[ErrorDoc]] = defaultdict(list)
    for doc in docs:
        by_status[doc.status].append(doc)
    decorators = [
        blp.alt_response(status, **_response(status, group)) for status, group in by_status.items()
    ]

    def decorate(view):
        for decorator in decorators:
            view = decorator(view)
        return view

    return decorate


def _response(status: int, docs: list[ErrorDoc]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "schema": ProviderFailureSchema if status == 502 else ApiErrorSchema,
        "description": " ".join(f"`{doc.code}`: {doc.when}" for doc in docs),
    }
    headers = sorted({name for doc in docs for name in doc.headers})
    if headers:
        response["headers"] = {name: name for name in headers}
    if len(docs) == 1:
        response["example"] = docs[0].example()
    else:
        response["examples"] = {
            doc.code: {"summary": doc.code, "value": doc.example()} for doc in docs
        }
    return response
