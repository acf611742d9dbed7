"""The provider client against a real HTTP server on loopback: contract, retries, budget."""

import time
from datetime import UTC, datetime

import pytest

from payments.providers import LinkRequest, ProviderCallFailed, request_payment_link
from tests.support.fake_provider import down_url
from tests.support.http_server import LoopbackServer, Reply

REQUEST = LinkRequest(
    payment_id=42,
    merchant_id=7,
    provider="stripe",
    order_id=1001,
    amount="10.50",
    price="12.00",
    currency="USD",
)


class ScriptedServer:
    """One loopback server for the module, giving the replies a test scripts, in turn (the last
    one again once they run out)."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.delay = 0.0
        self.server = LoopbackServer(self._respond).start()
        self.url = self.server.url

    def _respond(self, _request):
        if self.delay:
            time.sleep(self.delay)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def script(self, *replies, delay=0.0):
        self.replies, self.delay = list(replies), delay
        with self.server._lock:
            self.server.requests.clear()
        return self

    def received(self):
        return self.server.received()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


@pytest.fixture(scope="module")
def scripted():
    server = ScriptedServer()
    yield server
    server.server.stop()


@pytest.fixture
def serve(scripted):
    return scripted.script


def call(url, budget=1.0, request_id="rid-1"):
    return request_payment_link(url, REQUEST, budget_seconds=budget, request_id=request_id)


def test_request_follows_the_contract(serve):
    with serve(
        Reply(201, {"payment_url": "https://p.test/x", "expires_at": "2030-01-01T00:00:00Z"})
    ) as server:
        link = call(server.url + "/")
        (received,) = server.received()
    assert received.method == "POST"
    assert received.path == "/payment-links"
    assert received.json() == REQUEST.as_json()
    assert received.headers["idempotency-key"] == "payment-42"
    assert received.headers["x-request-id"] == "rid-1"
    assert received.headers["content-type"] == "application/json"
    assert link.payment_url == "https://p.test/x"
    assert link.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert link.attempts == 1


def test_200_without_expiry_and_naive_times_are_read_as_utc(serve):
    with serve(Reply(200, {"payment_url": "http://p.test/y"})) as server:
        assert call(server.url).expires_at is None
    with serve(
        Reply(200, {"payment_url": "http://p.test/y", "expires_at": "2030-01-01T05:00:00"})
    ) as server:
        assert call(server.url).expires_at == datetime(2030, 1, 1, 5, tzinfo=UTC)


def test_5xx_is_retried_with_the_same_idempotency_key(serve):
    ok = Reply(201, {"payment_url": "https://p.test/z"})
    with serve(Reply(502), Reply(503), ok) as server:
        link = call(server.url)
        received = server.received()
    assert link.attempts == 3
    assert [r.headers["idempotency-key"] for r in received] == ["payment-42"] * 3


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(400, {"error": "no"}), "HTTP 400"),
        (Reply(404), "HTTP 404"),
        (Reply(202, {"payment_url": "https://p.test"}), "HTTP 202"),
        (Reply(200, b"not json"), "not JSON"),
        (Reply(200, [1, 2]), "not a JSON object"),
        (Reply(200, {"url": "https://p.test"}), "payment_url"),
        (Reply(200, {"payment_url": "javascript:alert(1)"}), "payment_url"),
        (Reply(200, {"payment_url": 5}), "payment_url"),
        (Reply(200, {"payment_url": "https://p.test", "expires_at": "soon"}), "expires_at"),
    ],
)
def test_unusable_answers_are_errors_without_retry(serve, reply, detail):
    with serve(reply) as server, pytest.raises(ProviderCallFailed) as failure:
        call(server.url)
    assert failure.value.kind == "error"
    assert detail in failure.value.detail
    assert len(server.received()) == 1


def test_persistent_5xx_is_an_error_inside_the_budget(serve):
    with serve(Reply(500)) as server:
        started = time.monotonic()
        with pytest.raises(ProviderCallFailed) as failure:
            call(server.url, budget=0.8)
        elapsed = time.monotonic() - started
    assert failure.value.kind == "error"
    assert failure.value.status_code == 500
    assert failure.value.attempts >= 2
    assert elapsed < 0.8 + 0.2


def test_refused_connection_is_unreachable_quickly():
    started = time.monotonic()
    with pytest.raises(ProviderCallFailed) as failure:
        call(down_url(), budget=2.0)
    assert failure.value.kind == "unreachable"
    assert failure.value.attempts >= 2
    assert time.monotonic() - started < 2.0


def test_slow_answer_is_unreachable_at_the_budget(serve):
    with serve(Reply(201, {"payment_url": "https://p.test"}), delay=1.5) as server:
        started = time.monotonic()
        with pytest.raises(ProviderCallFailed) as failure:
            call(server.url, budget=0.5)
        elapsed = time.monotonic() - started
    assert failure.value.kind == "unreachable"
    assert 0.45 < elapsed < 0.5 + 0.2


def test_an_error_answer_then_no_answer_within_the_budget_is_a_provider_error():
    answers = []

    def respond(_request):
        answers.append(time.monotonic())
        if len(answers) > 1:
            time.sleep(0.6)  # the retry outlasts what is left of the budget
        return Reply(503)

    with LoopbackServer(respond) as server, pytest.raises(ProviderCallFailed) as failure:
        call(server.url, budget=0.5)
    assert failure.value.kind == "error"
    assert failure.value.status_code == 503
    assert failure.value.detail.startswith("provider answered HTTP 503, then no answer within")
    assert failure.value.attempts == len(answers) == 2


def test_invalid_provider_url_is_unreachable_not_a_crash():
    with pytest.raises(ProviderCallFailed) as failure:
        call("not a url")
    assert failure.value.kind == "unreachable"
