"""Sandbox provider: `POST /sandbox/payment-links` answers as SPEC section 4 says a provider does.

The link is `<SERVICE_URL>/sandbox/pay/<token>`: the request's details signed with the internal
secret (links.make_link_token), so it is unguessable and the same for the same payment; the
checkout page behind it reads the details back from the token.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from payments.api.schemas.fields import MoneyInput, StrictInteger
from payments.domain.money import format_money
from payments.errors import ServiceError
from payments.models import utcnow
from payments.sandbox.links import make_link_token

blp = Blueprint("sandbox_provider", __name__, url_prefix="/sandbox")


class LinkRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a provider tolerates fields it does not know

    payment_id = StrictInteger(required=True)
    merchant_id = StrictInteger(required=True)
    provider = fields.String(required=True, validate=validate.Length(1, 64))
    order_id = StrictInteger(required=True)
    amount = MoneyInput()
    price = MoneyInput()
    currency = fields.String(
        required=True, validate=[validate.Length(equal=3), validate.Regexp(r"^[A-Z]{3}$")]
    )


class BadLinkRequest(ServiceError):
    http_status, code, message = 400, "bad_request", "Not a valid payment-link request."


@blp.post("/payment-links")
def create_payment_link():
    """Issue a checkout link for one payment (idempotent per payment)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadLinkRequest("The body must be a JSON object.")
    try:
        details = LinkRequestSchema().load(data)
    except ValidationError as exc:
        raise BadLinkRequest(extra={"errors": exc.normalized_messages()}) from None
    details["amount"] = format_money(details["amount"])
    details["price"] = format_money(details["price"])
    settings = current_app.extensions["payments_settings"]
    token = make_link_token(settings.internal_webhook_secret, details)
    expires_at = utcnow() + timedelta(seconds=settings.payment_link_ttl_seconds)
    body = {
        "payment_url": f"{settings.service_url.rstrip('/')}/sandbox/pay/{token}",
        "expires_at": expires_at.isoformat(),
    }
    return jsonify(body), 201
