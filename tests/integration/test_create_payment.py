"""POST /api/v1/payments: the answers of SPEC, the timeline and the token they leave behind."""

from decimal import Decimal

import pytest
from sqlalchemy import update

from payments.extensions import db
from payments.models import Payment, Subscription, UserSubscription
from tests.support.factories import make_payment
from tests.support.fake_provider import EXPIRES_AT
from tests.support.payments_api import (
    URL,
    assert_error,
    auth,
    create_body,
    events_of,
    payment_count,
    used_tokens,
)


def test_created_payment_gets_its_link_location_and_timeline(app, client, demo, provider):
    merchant = demo.merchants[0]
    response = client.post(
        URL,
        json=create_body(currency="EUR"),
        headers=auth(merchant, **{"X-Request-Id": "req-42"}),
    )
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    payment_id = answer["payment_id"]
    assert answer == {
        "payment_id": payment_id,
        "status": "PAYMENT_PENDING",
        "payment_url": f"https://pay.example.test/checkout/{payment_id}",
    }
    assert response.headers["Location"] == f"/api/v1/payments/{payment_id}"
    assert "Idempotent-Replayed" not in response.headers

    (call,) = provider.calls()
    assert call.json() == {
        "payment_id": payment_id,
        "merchant_id": merchant.id,
        "provider": "stripe",
        "order_id": 1001,
        "amount": "10.50",
        "price": "12.00",
        "currency": "EUR",
    }
    assert call.headers["idempotency-key"] == f"payment-{payment_id}"
    assert call.headers["x-request-id"] == "req-42"

    assert used_tokens(app, merchant.id) == 1
    assert events_of(app, payment_id) == [
        "EVENT_PAYMENT_CREATED",
        "EVENT_PROVIDER_REQUEST_SENT",
        "EVENT_PROVIDER_PAYMENT_ACCEPTED",
    ]
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        assert payment.expires_at == EXPIRES_AT
        assert payment.amount == Decimal("10.5")
        assert payment.currency == "EUR"
        assert payment.request_id == "req-42"


def test_link_without_expiry_gets_the_configured_ttl(app, client, demo, provider, settings):
    provider.include_expiry = False
    response = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert response.status_code == 201
    with app.app_context():
        payment = db.session.get(Payment, response.get_json()["payment_id"])
        lifetime = (payment.expires_at - payment.created_at).total_seconds()
    assert abs(lifetime - settings.payment_link_ttl_seconds) < 60


def test_currency_defaults_to_usd_and_amounts_accept_numbers(app, client, demo, provider):
    response = client.post(
        URL, json=create_body(amount=0.1, price=3), headers=auth(demo.merchants[0])
    )
    assert response.status_code == 201
    assert provider.calls()[0].json()["currency"] == "USD"
    assert provider.calls()[0].json()["amount"] == "0.10"
    assert provider.calls()[0].json()["price"] == "3.00"


def test_unknown_fields_are_ignored(client, demo, provider):
    response = client.post(
        URL, json=create_body(description="gift", extra={"x": 1}), headers=auth(demo.merchants[0])
    )
    assert response.status_code == 201
    assert "description" not in provider.calls()[0].json()


def test_open_order_answers_already_exists_without_spending(app, client, demo, provider):
    merchant = demo.merchants[0]
    first = client.post(URL, json=create_body(), headers=auth(merchant)).get_json()
    again = client.post(URL, json=create_body(amount="99"), headers=auth(merchant))
    assert again.status_code == 200
    assert again.get_json() == {
        "message": "payment already exists",
        "payment_id": first["payment_id"],
        "status": "PAYMENT_PENDING",
        "payment_url": first["payment_url"],
    }
    assert used_tokens(app, merchant.id) == 1
    assert len(provider.calls()) == 1


def test_finished_order_also_already_exists(app, client, demo, provider):
    merchant = demo.merchants[0]
    with app.app_context():
        paid = make_payment(merchant.id, 7, status="PAYMENT_FINISHED").id
    answer = client.post(URL, json=create_body(order_id=7), headers=auth(merchant))
    assert answer.status_code == 200
    assert answer.get_json()["payment_id"] == paid
    assert answer.get_json()["status"] == "PAYMENT_FINISHED"
    assert provider.calls() == []


@pytest.mark.parametrize("final", ["PAYMENT_FAILED", "PAYMENT_EXPIRED"])
def test_order_whose_payments_failed_or_expired_may_be_paid_again(
    app, client, demo, provider, final
):
    merchant = demo.merchants[0]
    with app.app_context():
        old = make_payment(merchant.id, 8, status=final).id
    answer = client.post(URL, json=create_body(order_id=8), headers=auth(merchant))
    assert answer.status_code == 201
    assert answer.get_json()["payment_id"] != old


def test_order_ids_belong_to_their_merchant(client, demo, provider):
    first = client.post(URL, json=create_body(order_id=5), headers=auth(demo.merchants[0]))
    second = client.post(URL, json=create_body(order_id=5), headers=auth(demo.merchants[1]))
    assert first.status_code == second.status_code == 201
    assert first.get_json()["payment_id"] != second.get_json()["payment_id"]


def test_unknown_alias_is_provider_not_found(app, client, demo, provider):
    response = client.post(URL, json=create_body(alias="nope"), headers=auth(demo.merchants[0]))
    assert_error(response, 400, "provider_not_found")
    assert used_tokens(app, demo.merchants[0].id) == 0


@pytest.mark.parametrize("plan_id", [2, 3, 999])
def test_plan_the_merchant_has_not_is_subscription_not_found(client, demo, provider, plan_id):
    response = client.post(
        URL, json=create_body(subscription_id=plan_id), headers=auth(demo.merchants[0])
    )
    assert_error(response, 400, "subscription_not_found")


def test_inactive_subscription_is_subscription_not_found(app, client, demo, provider):
    with app.app_context():
        db.session.execute(update(UserSubscription).values(status="inactive"))
        db.session.commit()
    response = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert_error(response, 400, "subscription_not_found")


def test_no_tokens_left_is_402_and_spends_nothing(app, client, demo, provider):
    merchant = demo.merchants[0]
    with app.app_context():
        db.session.execute(update(Subscription).values(tokens=1))
        db.session.commit()
    assert client.post(URL, json=create_body(order_id=1), headers=auth(merchant)).status_code == 201
    response = client.post(URL, json=create_body(order_id=2), headers=auth(merchant))
    assert_error(response, 402, "subscription_exhausted")
    assert used_tokens(app, merchant.id) == 1
    assert payment_count(app) == 1
    assert len(provider.calls()) == 1
