"""HTTP entry points: flask-smorest blueprints that parse, call one service, shape the answer."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from payments.config import MAX_BODY_BYTES, Settings
from payments.errors import error_response

# Endpoints that read their raw body themselves (signed webhooks) skip the JSON check.
RAW_BODY_ENDPOINTS: set[str] = set()


def register_blueprints(app: Flask, api: Api, settings: Settings) -> None:
    from payments.api import docs, health, landing, openapi, payments, webhooks

    openapi.init_docs(api)
    api.register_blueprint(health.blp)
    api.register_blueprint(payments.blp)
    api.register_blueprint(webhooks.blp)
    app.register_blueprint(docs.assets)
    app.register_blueprint(landing.blp)
    if settings.sandbox_enabled:
        from payments.sandbox import register_sandbox

        register_sandbox(app)
    app.before_request(_check_request_body)


def _check_request_body():
    """Refuse oversized bodies (413) on any route before anything reads them, and bodies not
    declared JSON (415) before a view runs (never a confusing 422)."""
    if (request.content_length or 0) > MAX_BODY_BYTES or _chunked_body_too_large():
        return error_response(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith("/api/"):
        return None
    if request.routing_exception is not None or request.endpoint in RAW_BODY_ENDPOINTS:
        return None
    has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
    if has_body and not request.is_json:
        return error_response(
            415, "The request body must be JSON (Content-Type: application/json)."
        )
    return None


def _chunked_body_too_large() -> bool:
    """A chunked body has no Content-Length to check. Werkzeug reads it only up to
    MAX_CONTENT_LENGTH and silently stops there, so the view would see a truncated body (a
    400 or a bad signature instead of 413). Read it now (cached for the view): one that fills
    the limit is refused."""
    if request.content_length is not None:
        return False
    if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return False
    return len(request.get_data(cache=True)) >= MAX_BODY_BYTES
