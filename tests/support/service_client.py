"""A merchant's and the provider's view of a running service: HTTP calls as SPEC describes
them, one requests.Session per thread so concurrent load reuses connections."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import requests


class ServiceClient:
    def __init__(self, base_url: str, credentials: dict, webhook_secret: str) -> None:
        self.base_url = base_url
        self.merchants: list[dict] = credentials["merchants"]
        self.webhook_secret = webhook_secret
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def merchant(self, index: int = 0) -> dict:
        return self.merchants[index]

    def headers(self, merchant: dict, **extra: str) -> dict[str, str]:
        return {"X-API-Key": merchant["api_key"], **extra}

    def payment_body(self, merchant: dict, order_id: int, **fields) -> dict:
        return {
            "order_id": order_id,
            "amount": "10.50",
            "price": "10.50",
            "alias": "stripe",
            "subscription_id": merchant["subscription_id"],
            **fields,
        }

    def create(
        self,
        merchant: dict,
        order_id: int,
        *,
        key: str | None = None,
        timeout: float = 30,
        **fields,
    ) -> requests.Response:
        headers = self.headers(merchant)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.session.post(
            f"{self.base_url}/api/v1/payments",
            json=self.payment_body(merchant, order_id, **fields),
            headers=headers,
            timeout=timeout,
        )

    def get(self, merchant: dict, path: str, **params) -> requests.Response:
        return self.session.get(
            f"{self.base_url}/api/v1/payments{path}",
            headers=self.headers(merchant),
            params=params or None,
            timeout=30,
        )

    def post(self, merchant: dict, path: str, **kwargs) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/api/v1/payments{path}",
            headers=self.headers(merchant),
            timeout=30,
            **kwargs,
        )

    def signature(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def provider_report(
        self,
        payment_id: int,
        status: str = "finished",
        *,
        body: bytes | None = None,
        signature: str | None = None,
        timeout: float = 30,
    ) -> requests.Response:
        """The provider's signed webhook (SPEC: hex HMAC-SHA256 of the raw body)."""
        raw = (
            body
            if body is not None
            else json.dumps({"payment_id": payment_id, "status": status}).encode()
        )
        return self.session.post(
            f"{self.base_url}/api/v1/payments/webhook",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Internal-Signature": signature if signature is not None else self.signature(raw),
            },
            timeout=timeout,
        )
