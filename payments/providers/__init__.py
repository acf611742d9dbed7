"""Outbound calls to payment providers (SPEC section 4)."""

from payments.providers.client import (
    LinkRequest,
    ProviderCallFailed,
    ProviderLink,
    request_payment_link,
)

__all__ = ["LinkRequest", "ProviderCallFailed", "ProviderLink", "request_payment_link"]
