"""The sandbox checkout page: pay / decline / let expire reach the service as signed provider
webhooks over real HTTP, retried until the service has them."""

import time

import pytest

from payments.domain.statuses import LogStatus, PaymentStatus
from payments.extensions import db
from payments.models import Payment
from payments.sandbox.links import make_link_token
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support.factories import make_payment
from tests.support.live_app import app_at_free_port, serving
from tests.support.reports import notification_rows


@pytest.fixture
def live(settings):
    return app_at_free_port(settings)


def _link(app, merchant, order_id=5):
    with app.app_context():
        payment_id = make_payment(merchant.id, order_id, amount="12.34").id
    details = {
        "payment_id": payment_id,
        "merchant_id": merchant.id,
        "provider": "stripe",
        "order_id": order_id,
        "amount": "12.34",
        "price": "12.34",
        "currency": "USD",
    }
    return payment_id, make_link_token(TEST_WEBHOOK_SECRET, details)


def _status(app, payment_id):
    with app.app_context():
        db.session.expire_all()
        return db.session.get(Payment, payment_id).status


def test_checkout_page_shows_the_payment_and_three_choices(app, client, demo):
    payment_id, token = _link(app, demo.merchants[0])
    page = client.get(f"/sandbox/pay/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("12.34 USD", "Order #5", demo.merchants[0].name, f"#{payment_id}"):
        assert text in html
    for action in ("pay", "decline", "expire"):
        assert f"/sandbox/pay/{token}/{action}" in html


@pytest.mark.parametrize("token", ["nope", "eyJwYXltZW50X2lkIjoxfQ.forged"])
def test_an_unknown_link_is_a_404_page(client, demo, token):
    page = client.get(f"/sandbox/pay/{token}")
    assert page.status_code == 404
    assert "Unknown payment link" in page.get_data(as_text=True)
    assert client.post(f"/sandbox/pay/{token}/pay").status_code == 404


def test_an_unknown_action_is_a_404(app, client, demo):
    _payment_id, token = _link(app, demo.merchants[0])
    assert client.post(f"/sandbox/pay/{token}/refund").status_code == 404


@pytest.mark.parametrize(
    ("action", "final"),
    [
        ("pay", PaymentStatus.FINISHED),
        ("decline", PaymentStatus.FAILED),
        ("expire", PaymentStatus.EXPIRED),
    ],
)
def test_each_choice_reaches_the_service_as_a_signed_report(live, demo, action, final):
    app, port = live
    payment_id, token = _link(app, demo.merchants[0])
    with serving(app, port):
        page = app.test_client().post(f"/sandbox/pay/{token}/{action}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "The service accepted it" in html
        assert final in html
        assert _status(app, payment_id) == final
        with app.app_context():
            (row,) = notification_rows(payment_id)
            assert row.status in (LogStatus.PENDING, LogStatus.PROCESSING, LogStatus.SUCCESS)
        again = app.test_client().post(f"/sandbox/pay/{token}/{action}")
        assert "already processed" in again.get_data(as_text=True)
        other = "decline" if action == "pay" else "pay"
        refused = app.test_client().post(f"/sandbox/pay/{token}/{other}")
        assert "refused it (HTTP 409)" in refused.get_data(as_text=True)
        # Once final, the page says so.
        assert final in app.test_client().get(f"/sandbox/pay/{token}").get_data(as_text=True)


def test_the_report_is_retried_until_the_service_is_up(live, demo):
    app, port = live
    payment_id, token = _link(app, demo.merchants[0])
    page = app.test_client().post(f"/sandbox/pay/{token}/pay")  # nothing listens yet
    assert "keeps retrying in the background" in page.get_data(as_text=True)
    assert _status(app, payment_id) == PaymentStatus.PENDING
    time.sleep(1.0)
    with serving(app, port):
        deadline = time.monotonic() + 15
        while _status(app, payment_id) != PaymentStatus.FINISHED:
            assert time.monotonic() < deadline, "the background report never arrived"
            time.sleep(0.1)
