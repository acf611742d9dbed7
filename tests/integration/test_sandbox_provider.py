"""The sandbox provider (POST /sandbox/payment-links) and a payment created through it."""

import threading
from datetime import UTC, datetime

import pytest
from werkzeug.serving import make_server

from payments.sandbox.links import read_link_token
from tests.support.fake_provider import point_provider_at
from tests.support.payments_api import URL, auth, create_body

LINKS = "/sandbox/payment-links"


def link_request(**changes):
    return {
        "payment_id": 42,
        "merchant_id": 1,
        "provider": "stripe",
        "order_id": 1001,
        "amount": "10.50",
        "price": "12.00",
        "currency": "USD",
        **changes,
    }


def test_link_is_signed_stable_per_payment_and_expires(client, settings):
    first = client.post(LINKS, json=link_request(), headers={"Idempotency-Key": "payment-42"})
    assert first.status_code == 201
    answer = first.get_json()
    prefix = f"{settings.service_url}/sandbox/pay/"
    assert answer["payment_url"].startswith(prefix)
    token = answer["payment_url"].removeprefix(prefix)
    details = read_link_token(settings.internal_webhook_secret, token)
    assert details["payment_id"] == 42
    assert details["amount"] == "10.50"
    assert read_link_token(settings.internal_webhook_secret, token[:-2] + "xx") is None
    assert read_link_token("another-secret-of-16-chars", token) is None
    lifetime = datetime.fromisoformat(answer["expires_at"]) - datetime.now(UTC)
    assert abs(lifetime.total_seconds() - settings.payment_link_ttl_seconds) < 60

    again = client.post(LINKS, json=link_request())
    assert again.get_json()["payment_url"] == answer["payment_url"]
    other = client.post(LINKS, json=link_request(payment_id=43))
    assert other.get_json()["payment_url"] != answer["payment_url"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        "{}",
        '{"payment_id": "42"}',
        None,
    ],
)
def test_garbage_is_a_400_json(client, body):
    data = body if body is not None else ""
    response = client.post(LINKS, data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "-1"), ("amount", "abc"), ("currency", "usd"), ("order_id", 0), ("provider", "")],
)
def test_invalid_fields_are_named(client, field, value):
    response = client.post(LINKS, json=link_request(**{field: value}))
    assert response.status_code == 400
    assert field in response.get_json()["errors"]


@pytest.fixture
def served_app(app):
    """The app on a real loopback port, so the service can call its own sandbox over HTTP."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_payment_created_through_the_sandbox_gets_its_checkout_link(
    app, client, demo, settings, served_app
):
    point_provider_at(app, f"{served_app}/sandbox")
    response = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    token = answer["payment_url"].rsplit("/", 1)[1]
    details = read_link_token(settings.internal_webhook_secret, token)
    assert details["payment_id"] == answer["payment_id"]
    assert details["merchant_id"] == demo.merchants[0].id
