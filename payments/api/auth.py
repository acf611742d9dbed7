"""Authentication of merchant endpoints. A view decorated with `@merchant_required` runs with
`current_merchant_id()` set, once the merchant's rate limit allows it; the OpenAPI document gets
the API-key security requirement."""

from __future__ import annotations

import functools

from flask import current_app, g, request

from payments.api.ratelimit import enforce_merchant_rate_limit
from payments.services.auth import authenticate

SECURITY = [{"ApiKeyAuth": []}]


def merchant_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.merchant_id = authenticate(
            current_app.extensions["payments_settings"],
            request.headers.get("X-API-Key"),
            request.headers.get("X-Merchant-Id"),
        )
        enforce_merchant_rate_limit(g.merchant_id)
        return view(*args, **kwargs)

    # flask-smorest reads this to document the endpoint's security requirement.
    wrapper._apidoc = getattr(view, "_apidoc", {})
    wrapper._apidoc.setdefault("manual_doc", {})["security"] = SECURITY
    return wrapper


def current_merchant_id() -> int:
    return g.merchant_id
