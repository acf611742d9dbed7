"""The provider phase of POST /api/v1/payments with the provider down, slow, failing, flaky or
answering nonsense, on a 1 s budget: a 502 inside the budget, the payment failed, the token back,
and the same 502 replayed."""

import time

import pytest
from sqlalchemy import select, update

from payments import create_app
from payments.extensions import db
from payments.models import Payment, PaymentLog
from tests.support.fake_provider import FakeProvider, down_url, point_provider_at
from tests.support.payments_api import (
    URL,
    assert_error,
    auth,
    create_body,
    events_of,
    payment_status,
    used_tokens,
)

BUDGET = 1.0
MARGIN = 0.5


@pytest.fixture(scope="module")
def fast_app(app, settings):
    """The service with a 1 s provider budget (same database)."""
    application = create_app(settings.model_copy(update={"provider_timeout_seconds": BUDGET}))
    application.config["TESTING"] = True
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def provider(fast_app, demo, provider_server):
    point_provider_at(fast_app, provider_server.url)
    return provider_server.reset()


@pytest.fixture
def client(fast_app):
    return fast_app.test_client()


def timed_post(client, body, headers):
    started = time.monotonic()
    response = client.post(URL, json=body, headers=headers)
    return response, time.monotonic() - started


def assert_failed_and_refunded(app, merchant, answer):
    payment_id = answer["payment_id"]
    assert payment_status(app, payment_id) == "PAYMENT_FAILED"
    assert used_tokens(app, merchant.id) == 0
    assert events_of(app, payment_id) == [
        "EVENT_PAYMENT_CREATED",
        "EVENT_PROVIDER_REQUEST_SENT",
        "EVENT_PROVIDER_REQUEST_FAILED",
        "EVENT_TOKEN_REFUNDED",
    ]


def test_provider_down_is_502_unreachable_and_replayed(fast_app, client, demo, provider):
    merchant = demo.merchants[0]
    point_provider_at(fast_app, down_url())
    headers = auth(merchant, **{"Idempotency-Key": "down-1"})
    response, elapsed = timed_post(client, create_body(), headers)
    answer = assert_error(response, 502, "provider_unreachable")
    assert elapsed < BUDGET + MARGIN
    assert_failed_and_refunded(fast_app, merchant, answer)

    point_provider_at(fast_app, provider.url)  # even a provider back up is not asked again
    replay = client.post(URL, json=create_body(), headers=headers)
    assert replay.status_code == 502
    assert replay.get_json() == answer
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert provider.calls() == []
    assert used_tokens(fast_app, merchant.id) == 0


def test_slow_provider_is_cut_at_the_budget(fast_app, client, demo, provider):
    provider.delay = 3 * BUDGET
    response, elapsed = timed_post(client, create_body(), auth(demo.merchants[0]))
    answer = assert_error(response, 502, "provider_unreachable")
    assert elapsed < BUDGET + MARGIN
    assert_failed_and_refunded(fast_app, demo.merchants[0], answer)


def test_provider_500_is_retried_within_the_budget_then_502(fast_app, client, demo, provider):
    provider.mode = "error"
    response, elapsed = timed_post(client, create_body(), auth(demo.merchants[0]))
    answer = assert_error(response, 502, "provider_error")
    assert elapsed < BUDGET + MARGIN
    assert len(provider.calls()) >= 2
    assert {call.headers["idempotency-key"] for call in provider.calls()} == {
        f"payment-{answer['payment_id']}"
    }
    assert_failed_and_refunded(fast_app, demo.merchants[0], answer)


def test_flaky_provider_succeeds_on_a_retry(fast_app, client, demo, provider):
    provider.mode, provider.failures_left = "flaky", 2
    response = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert response.status_code == 201
    assert len(provider.calls()) == 3
    with fast_app.app_context():
        accepted = db.session.scalar(
            select(PaymentLog.payload).where(
                PaymentLog.event_type == "EVENT_PROVIDER_PAYMENT_ACCEPTED"
            )
        )
    assert accepted["attempts"] == 3


@pytest.mark.parametrize("mode", ["declined", "not_json", "no_url"])
def test_unusable_answer_is_provider_error_without_retry(fast_app, client, demo, provider, mode):
    provider.mode = mode
    response = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    answer = assert_error(response, 502, "provider_error")
    assert len(provider.calls()) == 1
    assert_failed_and_refunded(fast_app, demo.merchants[0], answer)


def test_order_of_a_failed_payment_can_be_paid_again(fast_app, client, demo, provider):
    provider.mode = "error"
    failed = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert failed.status_code == 502
    provider.mode = "normal"
    again = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert again.status_code == 201
    assert again.get_json()["payment_id"] != failed.get_json()["payment_id"]
    assert used_tokens(fast_app, demo.merchants[0].id) == 1


def _webhook_finishes_it_first(app):
    def finish(request):
        with app.app_context():
            db.session.execute(
                update(Payment)
                .where(Payment.id == request.json()["payment_id"])
                .values(status="PAYMENT_FINISHED")
            )
            db.session.commit()

    return finish


@pytest.mark.parametrize("mode", ["normal", "error"])
def test_late_provider_answer_never_overwrites_a_final_status(
    fast_app, client, demo, provider, mode
):
    provider.mode = mode
    provider.before_answer = _webhook_finishes_it_first(fast_app)
    response = client.post(URL, json=create_body(), headers=auth(demo.merchants[0]))
    assert response.status_code == 201
    assert response.get_json()["status"] == "PAYMENT_FINISHED"
    assert payment_status(fast_app, response.get_json()["payment_id"]) == "PAYMENT_FINISHED"
    assert used_tokens(fast_app, demo.merchants[0].id) == 1


def test_provider_url_setting_applies_to_providers_without_their_own(app, settings, demo):
    with FakeProvider() as fake:
        configured = create_app(settings.model_copy(update={"provider_url_setting": fake.url}))
        point_provider_at(configured, None)
        response = configured.test_client().post(
            URL, json=create_body(), headers=auth(demo.merchants[0])
        )
        assert response.status_code == 201
        assert len(fake.calls()) == 1
        with configured.app_context():
            db.engine.dispose()
