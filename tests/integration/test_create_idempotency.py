"""Idempotency of POST /api/v1/payments: replay, mismatch, in use, release, takeover, expiry."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from payments.api.schemas.payments import CreatePaymentSchema
from payments.extensions import db
from payments.models import IdempotencyKey, Subscription, utcnow
from payments.services import idempotency
from payments.services.create_payment import CreatePaymentCommand
from tests.support.factories import make_payment
from tests.support.payments_api import (
    URL,
    assert_error,
    auth,
    create_body,
    payment_count,
    used_tokens,
)


def keyed(merchant, key="key-1"):
    return auth(merchant, **{"Idempotency-Key": key})


def key_rows(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(IdempotencyKey))


def test_same_key_and_body_replays_the_first_answer(app, client, demo, provider):
    merchant = demo.merchants[0]
    first = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert first.status_code == 201
    # The same body written differently (numbers instead of strings) is the same request.
    again = client.post(URL, json=create_body(amount=10.5, price=12), headers=keyed(merchant))
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert len(provider.calls()) == 1
    assert payment_count(app) == 1
    assert used_tokens(app, merchant.id) == 1


def test_event_id_is_the_key_when_the_header_is_absent(app, client, demo, provider):
    merchant = demo.merchants[0]
    first = client.post(URL, json=create_body(event_id="evt-1"), headers=auth(merchant))
    again = client.post(URL, json=create_body(event_id="evt-1"), headers=auth(merchant))
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = client.post(
        URL, json=create_body(event_id="evt-1", amount="11"), headers=auth(merchant)
    )
    assert_error(changed, 422, "idempotency_key_mismatch")
    assert len(provider.calls()) == 1


def test_same_key_with_another_body_is_a_mismatch(app, client, demo, provider):
    merchant = demo.merchants[0]
    client.post(URL, json=create_body(), headers=keyed(merchant))
    response = client.post(URL, json=create_body(order_id=2), headers=keyed(merchant))
    assert_error(response, 422, "idempotency_key_mismatch")
    assert payment_count(app) == 1


def test_keys_belong_to_their_merchant(client, demo, provider):
    first = client.post(URL, json=create_body(), headers=keyed(demo.merchants[0]))
    other = client.post(URL, json=create_body(order_id=9), headers=keyed(demo.merchants[1]))
    assert first.status_code == other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers


def test_key_in_use_is_409_with_retry_after_and_not_stored(app, client, demo, provider):
    merchant = demo.merchants[0]
    gate = threading.Event()
    provider.before_answer = lambda request: gate.wait(5)
    first = {}

    def run_first():
        first["response"] = app.test_client().post(URL, json=create_body(), headers=keyed(merchant))

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        _wait_for(lambda: len(provider.calls()) == 1)
        busy = client.post(URL, json=create_body(), headers=keyed(merchant))
        answer = assert_error(busy, 409, "idempotency_key_in_use")
        assert int(busy.headers["Retry-After"]) >= 1
        assert "payment_id" not in answer
    finally:
        gate.set()
        thread.join()
    assert first["response"].status_code == 201
    replay = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert replay.status_code == 201
    assert replay.get_json() == first["response"].get_json()
    assert len(provider.calls()) == 1


@pytest.mark.parametrize("cause", ["alias", "tokens"])
def test_400_and_402_release_the_key_for_a_corrected_retry(app, client, demo, provider, cause):
    merchant = demo.merchants[0]
    if cause == "alias":
        refused = client.post(URL, json=create_body(alias="nope"), headers=keyed(merchant))
        assert_error(refused, 400, "provider_not_found")
    else:
        _set_plan_tokens(app, 0)
        refused = client.post(URL, json=create_body(), headers=keyed(merchant))
        assert_error(refused, 402, "subscription_exhausted")
        _set_plan_tokens(app, 5)
    assert key_rows(app) == 0
    retried = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers


def test_already_exists_answer_is_stored_and_replayed(app, client, demo, provider):
    merchant = demo.merchants[0]
    with app.app_context():
        existing = make_payment(merchant.id, 1001).id
    first = client.post(URL, json=create_body(), headers=keyed(merchant))
    again = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.get_json()["payment_id"] == existing
    assert again.headers["Idempotent-Replayed"] == "true"
    assert used_tokens(app, merchant.id) == 0


def _stale_key(app, merchant, body, payment_id, age_seconds=3600):
    """The trace of a process that died after committing its payment, mid provider call."""
    command = CreatePaymentCommand(merchant_id=merchant.id, **CreatePaymentSchema().load(body))
    with app.app_context():
        old = utcnow() - timedelta(seconds=age_seconds)
        db.session.add(
            IdempotencyKey(
                merchant_id=merchant.id,
                key="key-1",
                request_hash=command.fingerprint(),
                payment_id=payment_id,
                created_at=old,
                updated_at=old,
            )
        )
        db.session.commit()


def test_fresh_in_progress_key_of_a_live_request_is_not_taken_over(app, client, demo, provider):
    merchant = demo.merchants[0]
    with app.app_context():
        payment_id = make_payment(merchant.id, 1001, payment_url=None).id
    _stale_key(app, merchant, create_body(), payment_id, age_seconds=1)
    response = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert_error(response, 409, "idempotency_key_in_use")
    assert provider.calls() == []


def test_stale_in_progress_key_is_taken_over_and_finished(app, client, demo, provider):
    merchant = demo.merchants[0]
    with app.app_context():
        payment_id = make_payment(merchant.id, 1001, payment_url=None).id
    _stale_key(app, merchant, create_body(), payment_id)
    response = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert response.status_code == 201
    assert response.get_json()["payment_id"] == payment_id
    (call,) = provider.calls()
    assert call.headers["idempotency-key"] == f"payment-{payment_id}"
    replay = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == response.get_json()


@pytest.mark.parametrize(
    ("status", "url", "expected"),
    [
        ("PAYMENT_FINISHED", "http://provider.test/pay/x", 201),
        ("PAYMENT_FAILED", None, 502),
    ],
)
def test_taken_over_key_answers_from_a_final_payment(
    app, client, demo, provider, status, url, expected
):
    merchant = demo.merchants[0]
    with app.app_context():
        payment_id = make_payment(merchant.id, 1001, status=status, payment_url=url).id
    _stale_key(app, merchant, create_body(), payment_id)
    response = client.post(URL, json=create_body(), headers=keyed(merchant))
    assert response.status_code == expected
    assert response.get_json()["payment_id"] == payment_id
    assert provider.calls() == []


def test_key_older_than_a_day_is_forgotten(app, client, demo, provider):
    merchant = demo.merchants[0]
    with app.app_context():
        payment_id = make_payment(merchant.id, 5, status="PAYMENT_FAILED").id
    _stale_key(app, merchant, create_body(order_id=5), payment_id, age_seconds=25 * 3600)
    # Another body under the old key: no mismatch, a new request.
    response = client.post(URL, json=create_body(order_id=6), headers=keyed(merchant))
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_purge_removes_only_expired_keys(app, client, demo, provider):
    merchant = demo.merchants[0]
    client.post(URL, json=create_body(), headers=keyed(merchant, "fresh"))
    with app.app_context():
        payment_id = make_payment(merchant.id, 5, status="PAYMENT_FAILED").id
    _stale_key(app, merchant, create_body(order_id=5), payment_id, age_seconds=25 * 3600)
    with app.app_context():
        assert idempotency.purge_expired() == 1
        assert db.session.scalars(select(IdempotencyKey.key)).all() == ["fresh"]


def _set_plan_tokens(app, tokens):
    with app.app_context():
        db.session.execute(update(Subscription).values(tokens=tokens))
        db.session.commit()


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
