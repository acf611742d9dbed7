"""Structured logs through the service's real handler: one JSON line per request, the request id
on every line, and no credential ever written out."""

import io
import json
import logging

import pytest

from payments.logging_setup import ACCESS_LOGGER, REDACTED, make_handler, redact


@pytest.fixture
def log_lines():
    """Everything logged during the test, as written by the service's handler (JSON lines)."""
    stream = io.StringIO()
    handler = make_handler(stream)
    root, access = logging.getLogger(), logging.getLogger(ACCESS_LOGGER)
    previous_level = access.level
    access.setLevel(logging.INFO)  # the test settings run at WARNING
    root.addHandler(handler)

    def read() -> tuple[str, list[dict]]:
        text = stream.getvalue()
        return text, [json.loads(line) for line in text.splitlines()]

    yield read
    root.removeHandler(handler)
    access.setLevel(previous_level)


def access_lines(lines):
    return [line for line in lines if line["logger"] == ACCESS_LOGGER]


def test_one_json_line_per_request_with_its_request_id(client, log_lines):
    client.get("/api/v1/payments/ping", headers={"X-Request-Id": "ops-log-1"})
    client.get("/docs/assets/swagger-ui.css", headers={"X-Request-Id": "ops-log-2"})
    client.get("/nowhere", headers={"X-Request-Id": "ops-log-3"})

    _, lines = log_lines()
    ping, asset, missing = access_lines(lines)
    assert ping["request_id"] == "ops-log-1"
    assert {k: ping[k] for k in ("method", "route", "path", "status", "merchant_id")} == {
        "method": "GET",
        "route": "/api/v1/payments/ping",
        "path": "/api/v1/payments/ping",
        "status": 200,
        "merchant_id": None,
    }
    assert ping["level"] == "INFO"
    assert 0 <= ping["duration_ms"] < 5000
    assert (asset["route"], asset["path"]) == (
        "/docs/assets/<path:filename>",
        "/docs/assets/swagger-ui.css",
    )
    assert (missing["request_id"], missing["route"], missing["status"]) == ("ops-log-3", None, 404)


def test_the_request_line_names_the_authenticated_merchant(client, demo, log_lines):
    merchant = demo.merchants[0]
    response = client.get("/api/v1/payments?page=1", headers={"X-API-Key": merchant.api_key})
    if response.status_code == 404:
        pytest.skip("no authenticated merchant route registered yet")
    assert response.status_code == 200
    _, lines = log_lines()
    (line,) = access_lines(lines)
    assert line["merchant_id"] == merchant.id


def test_the_request_line_reads_the_merchant_that_authentication_set(log_lines):
    """The same hook on a bare Flask app whose view authenticates as merchant_required does
    (g.merchant_id), so this holds before any merchant route exists in this branch."""
    from flask import Flask, g

    from payments.logging_setup import init_request_log

    bare = Flask("bare")
    init_request_log(bare)

    @bare.get("/orders/<int:order_id>")
    def order(order_id):
        g.merchant_id = 7
        return {"order_id": order_id}

    bare.test_client().get("/orders/12")
    _, lines = log_lines()
    (line,) = access_lines(lines)
    assert (line["merchant_id"], line["route"], line["path"]) == (
        7,
        "/orders/<int:order_id>",
        "/orders/12",
    )


def test_api_keys_and_secrets_never_reach_the_log(client, demo, log_lines, caplog):
    merchant = demo.merchants[0]
    api_key, secret = merchant.api_key, merchant.webhook_secret
    signature = "9f" * 32
    for path in ("/api/v1/payments/ping", "/api/v1/payments?page=1", "/api/v1/payments/webhook"):
        client.get(path, headers={"X-API-Key": api_key, "X-Internal-Signature": signature})
    client.get("/api/v1/payments?page=1", headers={"X-API-Key": "pk_" + "x" * 43})

    # Whatever a future line of code might log by mistake, in each shape it could take.
    log = logging.getLogger("payments.tests.redaction")
    log.warning("outbound headers: %s", {"X-API-Key": api_key, "X-Internal-Signature": signature})
    log.warning("signing with %s for merchant %s", secret, merchant.id)
    log.warning("request", extra={"header": f"X-API-Key: {api_key}", "secret": secret})
    log.warning("legacy call", extra={"headers": {"X-API-Key": "legacy-key-without-prefix"}})
    log.warning("provider call to postgresql://payments:s3cret-pw@db:5432/payments failed")
    try:
        raise RuntimeError(f"bad key {api_key}")
    except RuntimeError:
        log.exception("handling failed")

    text, lines = log_lines()
    assert access_lines(lines), "the requests were logged"
    for leaked in (
        api_key,
        secret,
        secret.removeprefix("whsec_"),
        signature,
        "s3cret-pw",
        "x" * 43,
    ):
        assert leaked not in text
    assert text.count(REDACTED) >= 7
    assert "handling failed" in text
    assert "RuntimeError: bad key pk_[REDACTED]" in text
    # The line is redacted, not the record: other handlers (here pytest's) get it whole.
    assert caplog.records[-1].exc_info is not None
    assert api_key in str(caplog.records[-1].exc_info[1])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("key pk_AbC123_-xyz987654321", "key pk_[REDACTED]"),
        ("secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+", "secret=whsec_[REDACTED]"),
        ("X-API-Key: legacy-key-1", "X-API-Key: [REDACTED]"),
        ("{'x-api-key': 'legacy-key-1'}", "{'x-api-key': '[REDACTED]'}"),
        ('{"X-Internal-Signature": "abcdef"}', '{"X-Internal-Signature": "[REDACTED]"}'),
        ("amqp://guest:guest@rabbit:5672/%2F", "amqp://guest:[REDACTED]@rabbit:5672/%2F"),
        ("payment 42 finished in 3 ms", "payment 42 finished in 3 ms"),
        ("http://127.0.0.1:8000/sandbox", "http://127.0.0.1:8000/sandbox"),
    ],
)
def test_redaction_patterns(raw, expected):
    assert redact(raw) == expected


def test_a_value_orjson_refuses_still_makes_its_line(log_lines):
    logging.getLogger("payments.test").warning(
        "a huge order id arrived", extra={"order_id": 2**70, "x-api-key": "pk_live_abcdef123456"}
    )

    text, lines = log_lines()
    (line,) = [line for line in lines if line["logger"] == "payments.test"]
    assert line["order_id"] == 2**70
    assert line["x-api-key"] == REDACTED
    assert "pk_live_abcdef123456" not in text
