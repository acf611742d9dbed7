"""What a person sees on the sandbox pages: the checkout's details and three choices, the
inbox's rows (type, payment, amount, merchant, status, attempt, signature verified), the
answers a choice gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.domain.statuses import PaymentStatus
from payments.extensions import redis_store
from payments.sandbox.links import make_link_token
from payments.services.delivery import encode_body, signed_headers
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support.factories import make_payment

INBOX = "/sandbox/merchant"


@pytest.fixture(autouse=True)
def _empty_inbox(app, settings):
    redis_store.client.delete(f"{settings.redis_key_prefix}sandbox:merchant-inbox")


def _link(app, merchant, status=PaymentStatus.PENDING):
    expires = datetime(2031, 5, 6, 7, 8, tzinfo=UTC)
    with app.app_context():
        payment_id = make_payment(
            merchant.id, 42, amount="99.90", status=status, expires_at=expires
        ).id
    details = {
        "payment_id": payment_id,
        "merchant_id": merchant.id,
        "provider": "stripe",
        "order_id": 42,
        "amount": "99.90",
        "price": "99.90",
        "currency": "EUR",
    }
    return payment_id, make_link_token(TEST_WEBHOOK_SECRET, details)


def _notify(client, merchant, payment_id, webhook_id, kind="finished", secret=None):
    payload = {
        "type": f"payment.{kind}",
        "payment_id": payment_id,
        "order_id": 42,
        "merchant_id": merchant.id,
        "status": f"PAYMENT_{kind.upper()}",
        "amount": "99.90",
        "price": "99.90",
        "currency": "EUR",
        "timestamp": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
    }
    body = encode_body(payload)
    headers = signed_headers(secret or merchant.webhook_secret, webhook_id, body, None)
    return client.post(f"{INBOX}/webhook", data=body, headers=headers)


def test_the_checkout_shows_who_is_paid_what_until_when(app, client, demo):
    payment_id, token = _link(app, demo.merchants[0])
    html = client.get(f"/sandbox/pay/{token}").get_data(as_text=True)
    for text in (
        "99.90 EUR",
        "#42",
        demo.merchants[0].name,
        f"#{payment_id}",
        "2031-05-06 07:08 UTC",
    ):
        assert text in html
    assert "awaiting payment" in html
    for button in ('id="pay"', 'id="decline"', 'id="expire"'):
        assert button in html
    assert "Let the link expire" in html


def test_a_finished_payment_s_checkout_says_so(app, client, demo):
    _payment_id, token = _link(app, demo.merchants[0], status=PaymentStatus.FINISHED)
    html = client.get(f"/sandbox/pay/{token}").get_data(as_text=True)
    assert "already <strong>PAYMENT_FINISHED</strong>" in html
    assert "awaiting payment" not in html


def test_the_inbox_lists_newest_first_with_what_a_merchant_checks(app, client, demo):
    merchant = demo.merchants[0]
    assert _notify(client, merchant, 11, "msg_first", "failed").status_code == 204
    assert _notify(client, merchant, 22, "msg_second").status_code == 204
    assert _notify(client, merchant, 22, "msg_second").status_code == 204  # a retry
    forged = _notify(client, merchant, 33, "msg_forged", secret=demo.merchants[1].webhook_secret)
    assert forged.status_code == 401
    html = client.get(INBOX).get_data(as_text=True)
    rows = html.split('<tr class="notification"')[1:]
    assert [row.split('data-payment-id="')[1].split('"')[0] for row in rows] == [
        "33",
        "22",
        "22",
        "11",
    ]
    forged_row, retry_row, first_delivery, failed_row = rows
    assert "✗" in forged_row
    assert "signature verified" not in forged_row
    assert "signature verified" in retry_row
    assert ">retry<" in retry_row
    assert "payment.finished" in first_delivery
    assert ">retry<" not in first_delivery
    assert "payment.failed" in failed_row
    for row in rows:
        assert "99.90 EUR" in row
        assert merchant.name in row
    assert '<strong id="received-count">4</strong>' in html
    assert 'http-equiv="refresh"' in html
    items = client.get(f"{INBOX}.json").get_json()["items"]
    assert (items[1]["amount"], items[1]["currency"]) == ("99.90", "EUR")


def test_an_empty_inbox_says_how_to_fill_it(client, demo):
    html = client.get(INBOX).get_data(as_text=True)
    assert "Nothing yet" in html
    assert "payment_url" in html
