"""A payment provider on loopback (SPEC section 4) whose behaviour a test switches:
normal, slow, error (HTTP 500), flaky (a few 503s, then normal), or a bad answer; plus the URL
of a provider that is down (a port nobody listens on)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import update

from tests.support.http_server import LoopbackServer, ReceivedRequest, Reply

EXPIRES_AT = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeProvider:
    def __init__(self) -> None:
        self.mode = "normal"
        self.delay = 0.0
        self.failures_left = 0
        self.include_expiry = True
        self.before_answer = None  # called with the request, e.g. to play a racing webhook
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeProvider:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def reset(self) -> FakeProvider:
        """Back to normal with no recorded calls (one server serves a whole test module)."""
        self.mode, self.delay, self.failures_left = "normal", 0.0, 0
        self.include_expiry, self.before_answer = True, None
        with self.server._lock:
            self.server.requests.clear()
        return self

    def calls(self) -> list[ReceivedRequest]:
        return [r for r in self.server.received() if r.path == "/payment-links"]

    def _respond(self, request: ReceivedRequest) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        if self.before_answer is not None:
            self.before_answer(request)
        with self._lock:
            flaky = self.mode == "flaky" and self.failures_left > 0
            if flaky:
                self.failures_left -= 1
        if flaky:
            return Reply(503, {"error": "try again"})
        if self.mode == "error":
            return Reply(500, {"error": "boom"})
        if self.mode == "declined":
            return Reply(400, {"error": "declined"})
        if self.mode == "not_json":
            return Reply(200, b"<html>ok</html>", {"Content-Type": "text/html"})
        if self.mode == "no_url":
            return Reply(201, {"expires_at": EXPIRES_AT.isoformat()})
        payment_id = request.json()["payment_id"]
        body = {"payment_url": f"https://pay.example.test/checkout/{payment_id}"}
        if self.include_expiry:
            body["expires_at"] = EXPIRES_AT.isoformat()
        return Reply(201, body)


def down_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def point_provider_at(app, url: str | None, alias: str = "stripe") -> None:
    """Give the provider row its own URL (it overrides PROVIDER_URL)."""
    from payments.extensions import db
    from payments.models import Provider

    with app.app_context():
        db.session.execute(update(Provider).where(Provider.alias == alias).values(url=url))
        db.session.commit()
