"""Checkout link tokens of the sandbox provider.

A token is the payment's details signed with the internal secret (itsdangerous): unguessable,
stable for one payment (so the provider call is idempotent) and readable by any process of the
service without shared state.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "sandbox-payment-link"


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def make_link_token(secret: str, details: dict) -> str:
    """`details`: the provider request (payment_id, merchant_id, order_id, amount, currency...)."""
    return _serializer(secret).dumps(details)


def read_link_token(secret: str, token: str) -> dict | None:
    """The details behind a token, or None when it was not made by us."""
    try:
        details = _serializer(secret).loads(token)
    except BadSignature:
        return None
    return details if isinstance(details, dict) else None
