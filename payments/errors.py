"""Domain exceptions and the one JSON error shape of SPEC:

    {"code": <http status>, "status": "<reason phrase>", "message": "<human text>",
     "error": "<machine code>", "errors": {...per-field messages, 422 only}}

Services raise the small exceptions below; views never build error bodies themselves.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every error a client can cause; each subclass is one line."""

    http_status: int = 400
    code: str = "bad_request"
    message: str = "The request cannot be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.extra = extra or {}
        self.headers = headers or {}


class Unauthorized(ServiceError):
    http_status, code, message = 401, "unauthorized", "Missing or invalid credentials."


class MerchantMismatch(ServiceError):
    http_status, code, message = 403, "merchant_mismatch", "X-Merchant-Id does not match the key."


class NotFound(ServiceError):
    http_status, code, message = 404, "not_found", "Not found."


class PaymentNotFound(NotFound):
    code, message = "payment_not_found", "Payment not found."


class ProviderNotFound(ServiceError):
    http_status, code, message = 400, "provider_not_found", "Unknown provider alias."


class SubscriptionNotFound(ServiceError):
    http_status, code = 400, "subscription_not_found"
    message = "The subscription is not one of the merchant's active subscriptions."


class SubscriptionExhausted(ServiceError):
    http_status, code, message = 402, "subscription_exhausted", "No tokens left."


class IdempotencyKeyInUse(ServiceError):
    http_status, code = 409, "idempotency_key_in_use"
    message = "A request with this idempotency key is still being processed; retry later."


class IdempotencyKeyMismatch(ServiceError):
    http_status, code = 422, "idempotency_key_mismatch"
    message = "This idempotency key was used with a different request body."


class InvalidTransition(ServiceError):
    http_status, code = 409, "invalid_transition"
    message = "The report contradicts the payment's final status."


class InvalidSignature(ServiceError):
    http_status, code, message = 401, "invalid_signature", "Missing or invalid signature."


class ValidationFailed(ServiceError):
    http_status, code, message = 422, "validation_error", "The request is not valid."


class ProviderUnreachable(ServiceError):
    http_status, code, message = 502, "provider_unreachable", "The payment provider is unreachable."


class ProviderFailed(ServiceError):
    http_status, code, message = 502, "provider_error", "The payment provider answered an error."


class RateLimited(ServiceError):
    http_status, code, message = 429, "rate_limited", "Too many requests; retry later."


class ServiceUnavailable(ServiceError):
    http_status, code, message = 503, "service_unavailable", "Try again shortly."


# Machine codes for errors raised by Flask/Werkzeug/webargs rather than by our services.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",  # gunicorn's own refusals (payments/server_errors.py): 414, 417, 431, 501
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_error",
    429: "rate_limited",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}


def error_body(
    http_status: int,
    message: str,
    code: str | None = None,
    *,
    errors: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The error document itself (also stored, e.g. to replay an idempotent request's 502)."""
    body: dict[str, Any] = {
        "code": http_status,
        "status": HTTPStatus(http_status).phrase,
        "message": message,
        "error": code or _HTTP_CODES.get(http_status, "error"),
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def service_error_body(error: ServiceError) -> dict[str, Any]:
    return error_body(error.http_status, error.message, error.code, extra=error.extra)


def error_response(
    http_status: int,
    message: str,
    code: str | None = None,
    *,
    errors: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify(error_body(http_status, message, code, errors=errors, extra=extra))
    response.status_code = http_status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_service_error(error: ServiceError) -> Response:
    return error_response(
        error.http_status, error.message, error.code, extra=error.extra, headers=error.headers
    )


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug/Flask/webargs errors, in our shape. webargs puts field messages in `data`."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = _flatten_validation_messages(data.get("messages")) if status == 422 else None
    message = data.get("message") or error.description or HTTPStatus(status).phrase
    if status == 422 and errors:
        message = "The request is not valid; see `errors`."
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_headers():
        headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
    return error_response(status, message, errors=errors, headers=headers)


def handle_unexpected(error: Exception) -> Response:
    if _database_unavailable(error):
        # An outage, not a bug: the client may retry (its Idempotency-Key makes that safe).
        log.warning("database unavailable: %s", type(error).__name__, exc_info=True)
        return error_response(
            503,
            "The database is unavailable; try again shortly.",
            "service_unavailable",
            headers={"Retry-After": "1"},
        )
    # The traceback goes to the log (with the request id); the client gets no internals.
    log.exception("unhandled error: %s", type(error).__name__)
    return error_response(500, "Internal error; it has been logged.", "internal_error")


def _database_unavailable(error: Exception) -> bool:
    """Connection refused or lost, pool exhausted, or the server cancelled the statement:
    the request did not commit, and the same request may succeed a moment later."""
    transient = (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DisconnectionError,
        sa_exc.TimeoutError,
    )
    if isinstance(error, transient):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


def _flatten_validation_messages(messages: Any) -> dict[str, Any] | None:
    """webargs nests messages by location ({"json": {"amount": [...]}}); clients want fields."""
    if not isinstance(messages, dict):
        return None
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
