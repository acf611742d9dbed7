"""Merchant credentials: random API keys stored only as SHA-256 hashes, and Standard Webhooks
signing secrets."""

import base64
import hashlib
import secrets

API_KEY_PREFIX = "pk_"


def generate_api_key() -> str:
    """32 random bytes, URL-safe; the prefix makes a leaked key easy to recognise and scan for."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def generate_webhook_secret() -> str:
    """Standard Webhooks format: "whsec_" + standard base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
