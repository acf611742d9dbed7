"""Scenarios 1 and 2: payment creation under concurrent load on the production processes.

1. Idempotency: 200 concurrent creates across 20 idempotency keys make 20 payments and 20
   provider calls; every answer for one key names the same payment.
2. Tokens: concurrent creates past the plan's quota never spend more tokens than the plan has,
   also while provider failures give tokens back.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from tests.reliability.helpers import assert_error_shape, concurrently, record
from tests.support.stack import StackOptions

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(worker=False, schedulers=0)  # creation only: no notification work


KEYS, COPIES = 20, 10
TOKEN_LIMIT, TOKEN_REQUESTS = 15, 60


def _create_until_settled(service, merchant, order_id, key, deadline_seconds=30.0):
    """A client that honours 409 + Retry-After (capped, to keep the test short) until it gets
    the answer; returns (first status, final response, number of 409s)."""
    first, conflicts = None, 0
    deadline = time.monotonic() + deadline_seconds
    while True:
        response = service.create(merchant, order_id, key=key)
        first = first or response.status_code
        if response.status_code != 409 or time.monotonic() > deadline:
            return first, response, conflicts
        assert_error_shape(response, 409, "idempotency_key_in_use")
        assert "Retry-After" in response.headers
        conflicts += 1
        time.sleep(min(float(response.headers["Retry-After"]), 0.3))


def test_idempotency_under_load(stack, service, orders):
    merchant = service.merchant(0)
    used_before = _used_tokens(stack, merchant)
    stack.provider.latency = 0.3  # the first request of each key is still running for a while
    order_ids = orders.take(KEYS)
    keys = [f"load-{uuid.uuid4().hex}" for _ in range(KEYS)]
    calls = [(order_ids[i], keys[i]) for i in range(KEYS) for _ in range(COPIES)]
    random.Random(1).shuffle(calls)

    started = time.monotonic()
    results = concurrently(
        lambda order_id, key: _create_until_settled(service, merchant, order_id, key),
        calls,
        workers=64,
    )
    elapsed = time.monotonic() - started

    errors = [result for result in results if isinstance(result, Exception)]
    assert not errors, errors[:3]
    finals = [response for _, response, _ in results]
    assert {response.status_code for response in finals} == {201}, {
        response.status_code: response.text[:200] for response in finals
    }
    payment_by_key: dict[str, set[int]] = {}
    for (_, key), response in zip(calls, finals, strict=True):
        payment_by_key.setdefault(key, set()).add(response.json()["payment_id"])
    assert all(len(ids) == 1 for ids in payment_by_key.values()), payment_by_key
    payment_ids = {ids.pop() for ids in payment_by_key.values()}
    replayed = sum(1 for r in finals if r.headers.get("Idempotent-Replayed") == "true")

    rows = stack.sql(
        "SELECT id FROM payments WHERE merchant_id = %s AND order_id = ANY(%s)",
        merchant["id"],
        order_ids,
    )
    provider_calls = {pid: stack.provider.calls[f"payment-{pid}"] for pid in payment_ids}
    figures = record(
        "idempotency_under_load",
        requests=len(calls),
        keys=KEYS,
        seconds=round(elapsed, 2),
        payments=len(rows),
        provider_calls=sum(provider_calls.values()),
        answers_replayed=replayed,
        conflicts_409=sum(conflicts for _, _, conflicts in results),
        tokens_spent=_used_tokens(stack, merchant) - used_before,
        lost=0,
        duplicated=len(rows) - KEYS,
    )
    assert len(payment_ids) == KEYS
    assert {row[0] for row in rows} == payment_ids
    assert all(count == 1 for count in provider_calls.values()), provider_calls
    assert figures["tokens_spent"] == KEYS
    assert replayed == KEYS * (COPIES - 1)


def test_tokens_never_overspent_under_load(stack, service, orders):
    merchant = service.merchant(1)
    plan_id = merchant["subscription_id"]
    (original_tokens,) = stack.sql("SELECT tokens FROM subscriptions WHERE id = %s", plan_id)[0]
    assert _used_tokens(stack, merchant) == 0
    stack.sql("UPDATE subscriptions SET tokens = %s WHERE id = %s", TOKEN_LIMIT, plan_id)
    watcher = _UsedTokensWatcher(stack, merchant)
    try:
        order_ids = orders.take(TOKEN_REQUESTS)
        failing = set(order_ids[::3])  # the provider refuses these: 502, token given back
        stack.provider.fail_orders = failing
        stack.provider.latency = 0.05
        watcher.start()
        responses = concurrently(
            lambda order_id: service.create(merchant, order_id),
            [(order_id,) for order_id in order_ids],
            workers=48,
        )
        stack.provider.fail_orders = set()
        # Then fill the plan up one by one: exactly the plan's tokens, and not one more.
        refused = None
        for order_id in orders.take(TOKEN_LIMIT + 1):
            response = service.create(merchant, order_id)
            if response.status_code != 201:
                refused = response
                break
        watcher.stop()
    finally:
        stack.provider.fail_orders = set()
        stack.sql("UPDATE subscriptions SET tokens = %s WHERE id = %s", original_tokens, plan_id)

    assert not [r for r in responses if isinstance(r, Exception)]
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 402, 502}, statuses
    for response in responses:
        if response.status_code == 402:
            assert_error_shape(response, 402, "subscription_exhausted")
        if response.status_code == 502:
            assert response.json()["payment_id"]
    alive = _alive_payments(stack, merchant)
    figures = record(
        "tokens_under_load",
        plan_tokens=TOKEN_LIMIT,
        concurrent_requests=TOKEN_REQUESTS,
        answered_201=statuses.count(201),
        answered_402=statuses.count(402),
        answered_502=statuses.count(502),
        max_used_tokens_seen=watcher.maximum,
        samples=watcher.samples,
        used_tokens_after_top_up=_used_tokens(stack, merchant),
        alive_payments=alive,
        lost=0,
        duplicated=0,
    )
    assert watcher.maximum <= TOKEN_LIMIT
    assert refused is not None
    assert_error_shape(refused, 402, "subscription_exhausted")
    assert figures["used_tokens_after_top_up"] == TOKEN_LIMIT
    assert alive == TOKEN_LIMIT, "every spent token belongs to a live payment"


def _used_tokens(stack, merchant) -> int:
    return stack.sql(
        "SELECT used_tokens FROM user_subscriptions WHERE merchant_id = %s", merchant["id"]
    )[0][0]


def _alive_payments(stack, merchant) -> int:
    return stack.sql(
        "SELECT count(*) FROM payments WHERE merchant_id = %s"
        " AND status IN ('PAYMENT_PENDING', 'PAYMENT_FINISHED')",
        merchant["id"],
    )[0][0]


class _UsedTokensWatcher:
    """Samples used_tokens while the load runs: overspending even for a moment is a failure."""

    def __init__(self, stack, merchant) -> None:
        self.stack, self.merchant = stack, merchant
        self.maximum, self.samples = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.maximum = max(self.maximum, _used_tokens(self.stack, self.merchant))
            self.samples += 1
            time.sleep(0.01)
