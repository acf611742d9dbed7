"""A merchant's webhook endpoint on loopback: it answers from a script and verifies every
notification it receives with the `standardwebhooks` library, as a real merchant would."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.http_server import LoopbackServer, ReceivedRequest, Reply

PATH = "/hooks/payments"


@dataclass
class Delivery:
    webhook_id: str | None
    timestamp: str | None
    verified: bool
    payload: Any
    request_id: str | None
    received_at: float


class FakeMerchant:
    """`with FakeMerchant(secret) as merchant:`; `merchant.url` is its callback URL.

    `replies` are answered in order and the last one repeats: `[500, 500, 200]`, or Reply
    objects for headers. `delay` seconds of silence before each answer simulate a slow merchant.
    """

    def __init__(self, secret: str, replies=(204,), delay: float = 0.0) -> None:
        self.secret = secret
        self.delay = delay
        self._replies = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url + PATH

    def __enter__(self) -> FakeMerchant:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def answer(self, *replies) -> None:
        """Change the script from now on."""
        with self._lock:
            self._replies = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]

    def reset(self, secret: str | None = None, *replies) -> None:
        """Forget what was received; optionally a new secret and script (a long-lived fake)."""
        with self._lock:
            self._deliveries.clear()
            if secret is not None:
                self.secret = secret
            if replies:
                self._replies = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.deliveries()
            if len(received) >= count:
                return received
            time.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries, got {len(self.deliveries())}")

    def _respond(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            secret = self.secret
        try:
            payload = Webhook(secret).verify(request.body, request.headers)
            verified = True
        except (WebhookVerificationError, ValueError):
            payload, verified = None, False
        with self._lock:
            self._deliveries.append(
                Delivery(
                    webhook_id=request.headers.get("webhook-id"),
                    timestamp=request.headers.get("webhook-timestamp"),
                    verified=verified,
                    payload=payload,
                    request_id=request.headers.get("x-request-id"),
                    received_at=time.monotonic(),
                )
            )
            reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        if self.delay:
            time.sleep(self.delay)
        return Reply(status=reply.status, body=reply.body, headers=dict(reply.headers))
