"""Concurrent creates, each thread with its own client: the database settles every race."""

import threading

from sqlalchemy import update

from payments.extensions import db
from payments.models import Subscription
from tests.support.payments_api import URL, auth, create_body, payment_count, used_tokens


def run_together(app, requests_to_send):
    """POST every (body, headers) at once from its own thread; the responses in order."""
    barrier = threading.Barrier(len(requests_to_send))
    responses = [None] * len(requests_to_send)

    def send(index, body, headers):
        client = app.test_client()
        barrier.wait()
        responses[index] = client.post(URL, json=body, headers=headers)

    threads = [
        threading.Thread(target=send, args=(index, body, headers))
        for index, (body, headers) in enumerate(requests_to_send)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return responses


def test_fifty_creates_with_one_key_make_one_payment(app, demo, provider):
    merchant = demo.merchants[0]
    provider.delay = 0.3
    headers = auth(merchant, **{"Idempotency-Key": "same-key"})
    responses = run_together(app, [(create_body(), headers)] * 50)

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    fresh = [r for r in created if "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    assert all(r.get_json() == fresh[0].get_json() for r in created)
    assert all(r.headers["Retry-After"] for r in responses if r.status_code == 409)
    assert payment_count(app) == 1
    assert len(provider.calls()) == 1
    assert used_tokens(app, merchant.id) == 1


def test_three_times_the_tokens_left_spend_exactly_the_tokens(app, demo, provider):
    tokens = 5
    merchant = demo.merchants[0]
    with app.app_context():
        db.session.execute(update(Subscription).values(tokens=tokens))
        db.session.commit()
    requests_to_send = [(create_body(order_id=n), auth(merchant)) for n in range(1, 3 * tokens + 1)]
    statuses = [r.status_code for r in run_together(app, requests_to_send)]
    assert statuses.count(201) == tokens
    assert statuses.count(402) == 2 * tokens
    assert payment_count(app) == tokens
    assert used_tokens(app, merchant.id) == tokens


def test_one_order_created_concurrently_makes_one_payment(app, demo, provider):
    merchant = demo.merchants[0]
    responses = run_together(app, [(create_body(order_id=77), auth(merchant))] * 12)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [201]
    payment_ids = {r.get_json()["payment_id"] for r in responses}
    assert len(payment_ids) == 1
    assert payment_count(app) == 1
    assert used_tokens(app, merchant.id) == 1
