"""The payment provider and the merchants, as real HTTP servers on loopback whose behaviour a
test switches while the service runs. Each sits behind a TcpProxy so "down" is a real refused
connection, not a simulated one.

Modes: "ok"; "error" (500); "slow" (answers after `slow_seconds`); "hang" (holds the request
until the mode changes, then answers 503); "gone" (410, merchant only); "down" (connections
refused).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass

from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.http_server import LoopbackServer, ReceivedRequest, Reply
from tests.support.tcp_proxy import TcpProxy

MODES = ("ok", "error", "slow", "hang", "gone", "down")


class SwitchableServer:
    """A LoopbackServer behind a TcpProxy, with a mode the test sets at any time."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_seconds = 0.0
        self.latency = 0.0  # added to every "ok" answer (to widen race windows)
        self._mode_changed = threading.Condition()
        self._server = LoopbackServer(self._respond).start()
        port = int(self._server.url.rsplit(":", 1)[1])
        self._proxy = TcpProxy(port).start()
        self.url = f"http://127.0.0.1:{self._proxy.port}"

    def set_mode(self, mode: str, *, slow_seconds: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        if slow_seconds is not None:
            self.slow_seconds = slow_seconds
        with self._mode_changed:
            self.mode = mode
            self._mode_changed.notify_all()
        if mode == "down":
            self._proxy.cut()
        else:
            self._proxy.restore()

    def close(self) -> None:
        self.set_mode("ok")
        self._proxy.close()
        self._server.stop()

    def _respond(self, request: ReceivedRequest) -> Reply:
        mode = self.mode
        if mode == "hang":
            with self._mode_changed:
                self._mode_changed.wait_for(lambda: self.mode != "hang", timeout=60)
            return Reply(503, {"error": "was hanging"})
        if mode == "slow":
            time.sleep(self.slow_seconds)
            return self.handle(request)
        if mode == "error":
            return Reply(500, {"error": "injected failure"})
        if mode == "gone":
            return Reply(410, {"error": "gone"})
        if self.latency:
            time.sleep(self.latency)
        return self.handle(request)

    def handle(self, request: ReceivedRequest) -> Reply:
        raise NotImplementedError


class FakeProvider(SwitchableServer):
    """POST /payment-links per SPEC section 4; counts calls per Idempotency-Key."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.links: dict[str, str] = {}
        # Orders the provider refuses (500) even in "ok" mode: failures mixed into a load.
        self.fail_orders: set[int] = set()

    def handle(self, request: ReceivedRequest) -> Reply:
        if request.method != "POST" or not request.path.endswith("/payment-links"):
            return Reply(404, {"error": "no such route"})
        if _body_field(request, "order_id") in self.fail_orders:
            return Reply(500, {"error": "declined by the test"})
        key = request.headers.get("idempotency-key", "")
        with self._lock:
            link = self.links.setdefault(key, f"https://pay.test/{secrets.token_urlsafe(12)}")
        return Reply(201, {"payment_url": link})

    def _respond(self, request: ReceivedRequest) -> Reply:
        # Every call counts, answered or not: "no second provider call" is about calls made.
        with self._lock:
            self.calls[request.headers.get("idempotency-key", "")] += 1
        return super()._respond(request)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())


@dataclass
class Delivery:
    webhook_id: str
    merchant_id: int | None
    payment_id: int | None
    answered: int | None  # None while the merchant has not answered yet
    signature_valid: bool
    at: float
    path: str


class FakeMerchant(SwitchableServer):
    """The merchants' callback: verifies every webhook with `standardwebhooks` (the secret is
    chosen by the payload's merchant_id) and records what arrived and what it answered."""

    def __init__(self, secrets_by_merchant: dict[int, str] | None = None) -> None:
        super().__init__()
        self.secrets = dict(secrets_by_merchant or {})
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self.incomplete = 0

    def _respond(self, request: ReceivedRequest) -> Reply:
        if len(request.body) < int(request.headers.get("content-length") or 0):
            # The sender died mid-request (a SIGKILLed worker): nothing arrived to verify.
            with self._lock:
                self.incomplete += 1
            return Reply(400, {"error": "incomplete body"})
        valid = self._verify(request)
        # Recorded on arrival (a hanging answer may come much later, or never).
        delivery = self._record(request, valid)
        reply = Reply(400, {"error": "bad signature"}) if not valid else super()._respond(request)
        delivery.answered = reply.status
        return reply

    def handle(self, request: ReceivedRequest) -> Reply:
        return Reply(204)

    def _verify(self, request: ReceivedRequest) -> bool:
        merchant_id = _body_field(request, "merchant_id")
        secret = self.secrets.get(merchant_id) if isinstance(merchant_id, int) else None
        if secret is None:
            return False
        try:
            Webhook(secret).verify(request.body, request.headers)
        except (WebhookVerificationError, ValueError):
            return False
        return True

    def _record(self, request: ReceivedRequest, valid: bool) -> Delivery:
        delivery = Delivery(
            webhook_id=request.headers.get("webhook-id", ""),
            merchant_id=_body_field(request, "merchant_id"),
            payment_id=_body_field(request, "payment_id"),
            answered=None,
            signature_valid=valid,
            at=time.monotonic(),
            path=request.path,
        )
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    # --- what the tests read --------------------------------------------------------------

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def accepted(self) -> list[Delivery]:
        """Deliveries the merchant took (2xx with a valid signature)."""
        return [d for d in self.snapshot() if d.signature_valid and 200 <= (d.answered or 0) < 300]

    def delivered_ids(self) -> set[str]:
        return {d.webhook_id for d in self.accepted()}

    def delivered_payments(self) -> set[int]:
        return {d.payment_id for d in self.accepted() if d.payment_id is not None}

    def duplicates(self) -> int:
        """Extra 2xx deliveries beyond the first of each webhook-id (at-least-once)."""
        counts = Counter(d.webhook_id for d in self.accepted())
        return sum(count - 1 for count in counts.values())

    def invalid_signatures(self) -> int:
        return sum(1 for d in self.snapshot() if not d.signature_valid)

    def attempts_for(self, payment_id: int) -> list[Delivery]:
        """Every request that arrived for the payment, answered or not."""
        return [d for d in self.snapshot() if d.payment_id == payment_id]


def _body_field(request: ReceivedRequest, name: str):
    try:
        document = json.loads(request.body)
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None
