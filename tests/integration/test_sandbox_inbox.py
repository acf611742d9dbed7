"""The sandbox merchant inbox: verifies what it receives with standardwebhooks, keeps it (Redis
or in-process), and shows it; plus the whole sandbox loop over real HTTP."""

import json

import pytest

from payments.domain.statuses import LogStatus, ProviderReport
from payments.extensions import redis_store
from payments.sandbox.merchant_inbox import InboxStore
from payments.services.delivery import encode_body, signed_headers
from payments.services.notify import deliver_notification
from payments.services.provider_reports import apply_provider_report
from tests.support.factories import make_payment
from tests.support.live_app import app_at_free_port, serving
from tests.support.reports import notification_rows, point_merchant_at

INBOX = "/sandbox/merchant/webhook"


@pytest.fixture(autouse=True)
def _empty_inbox(app, settings):
    """The Redis-backed inbox outlives a test (as it outlives a request); start each empty."""
    redis_store.client.delete(f"{settings.redis_key_prefix}sandbox:merchant-inbox")


def _payload(merchant_id, payment_id=1):
    return {
        "type": "payment.finished",
        "payment_id": payment_id,
        "order_id": 9,
        "merchant_id": merchant_id,
        "status": "PAYMENT_FINISHED",
        "amount": "1.00",
        "price": "1.00",
        "currency": "USD",
        "timestamp": "2026-01-01T00:00:00+00:00",
    }


def _deliver(client, secret, payload, webhook_id="msg_test1", body=None):
    body = body if body is not None else encode_body(payload)
    headers = signed_headers(secret, webhook_id, body, "req-1")
    return client.post(INBOX, data=body, headers=headers)


def _items(client):
    return client.get("/sandbox/merchant.json").get_json()["items"]


def test_a_signed_notification_is_verified_and_listed(client, demo):
    merchant = demo.merchants[0]
    assert _deliver(client, merchant.webhook_secret, _payload(merchant.id)).status_code == 204
    assert _deliver(client, merchant.webhook_secret, _payload(merchant.id)).status_code == 204
    newest, first = _items(client)[:2]
    assert newest["verified"]
    assert first["verified"]
    assert (newest["webhook_id"], newest["type"], newest["payment_id"]) == (
        "msg_test1",
        "payment.finished",
        1,
    )
    assert (first["attempt"], newest["attempt"]) == (1, 2)  # the same webhook-id again
    assert newest["request_id"] == "req-1"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("wrong secret", "No matching signature"),
        ("tampered", "No matching signature"),
        ("unknown merchant", "unknown merchant"),
        ("not json", "unknown merchant"),
    ],
)
def test_what_does_not_verify_is_401_and_recorded_as_unverified(client, demo, case, error):
    merchant = demo.merchants[0]
    payload = _payload(merchant.id)
    secret = merchant.webhook_secret
    body = None
    if case == "wrong secret":
        secret = demo.merchants[1].webhook_secret
    elif case == "unknown merchant":
        payload["merchant_id"] = 10**6
    elif case == "not json":
        body = "\u00e9 not json"
    response = _deliver(client, secret, payload, body=body)
    if case == "tampered":
        tampered = encode_body({**payload, "amount": "1000.00"})
        headers = signed_headers(secret, "msg_t", encode_body(payload), None)
        response = client.post(INBOX, data=tampered, headers=headers)
    assert response.status_code == 401
    (item,) = [i for i in _items(client) if not i["verified"]][:1]
    assert error in item["error"]


def test_missing_headers_are_unverified_not_a_crash(client, demo):
    body = encode_body(_payload(demo.merchants[0].id))
    response = client.post(INBOX, data=body, headers={"webhook-signature": "garbage"})
    assert response.status_code == 401
    response = client.post(
        INBOX,
        data=body,
        headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1"},
    )
    assert response.status_code == 401


def test_the_page_lists_newest_first_and_refreshes(client, demo):
    merchant = demo.merchants[0]
    _deliver(client, merchant.webhook_secret, _payload(merchant.id, 11), webhook_id="msg_old")
    _deliver(client, merchant.webhook_secret, _payload(merchant.id, 22), webhook_id="msg_new")
    page = client.get("/sandbox/merchant")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'http-equiv="refresh"' in html
    assert html.index("msg_new") < html.index("msg_old")
    assert "verified" in html


def test_the_inbox_is_shared_through_redis(app, client, settings, demo):
    merchant = demo.merchants[0]
    _deliver(client, merchant.webhook_secret, _payload(merchant.id), webhook_id="msg_shared")
    key = f"{settings.redis_key_prefix}sandbox:merchant-inbox"
    stored = [json.loads(doc) for doc in redis_store.client.lrange(key, 0, -1)]
    assert any(entry["webhook_id"] == "msg_shared" for entry in stored)


def test_without_redis_the_inbox_is_a_bounded_deque(app, monkeypatch):
    monkeypatch.setattr(redis_store, "client", None)
    store = InboxStore()
    with app.app_context():
        for n in range(250):
            store.add({"webhook_id": f"msg_{n}", "verified": True})
        items = store.newest_first()
    assert len(items) == 200
    assert items[0]["webhook_id"] == "msg_249"


def test_the_sandbox_loop_reaches_the_inbox_verified(settings, demo):
    """Provider report -> outbox -> delivery to MERCHANT_CALLBACK_URL (the sandbox inbox)."""
    app, port = app_at_free_port(settings)
    merchant = demo.merchants[2]
    with app.app_context():
        point_merchant_at(merchant.id, None)  # no URL of its own: MERCHANT_CALLBACK_URL applies
        payment_id = make_payment(merchant.id, 3).id
        apply_provider_report(payment_id, ProviderReport.FINISHED)
        log_id = notification_rows(payment_id)[0].id
        webhook_id = notification_rows(payment_id)[0].webhook_id
    live_settings = app.extensions["payments_settings"]
    assert live_settings.merchant_callback_url.endswith("/sandbox/merchant/webhook")
    with serving(app, port), app.app_context():
        assert deliver_notification(live_settings, log_id) is LogStatus.SUCCESS
    items = _items(app.test_client())
    assert len(items) == 1
    assert items[0]["webhook_id"] == webhook_id
    assert items[0]["verified"] is True
    assert items[0]["merchant_id"] == merchant.id
