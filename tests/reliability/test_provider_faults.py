"""Scenario 7: the payment provider is slow, hangs, answers errors or is down.

Whatever the fault, the merchant gets SPEC's 502 inside the provider budget
(PROVIDER_TIMEOUT_SECONDS = 1 here), the payment is PAYMENT_FAILED with the failure on its
timeline, the token is given back, an idempotent retry replays the 502 without calling the
provider again, and the order can be paid once the provider is back.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.reliability.helpers import assert_error_shape, concurrently, record
from tests.support.stack import StackOptions

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    # Creation only: no notification work. A 1 s budget, so a fault's 502 comes quickly.
    return StackOptions(
        worker=False, schedulers=0, settings={"PROVIDER_TIMEOUT_SECONDS": str(BUDGET_SECONDS)}
    )


BUDGET_SECONDS = 1.0
# Time to answer beyond the provider budget: our own work, on a busy 2-core machine. One
# request alone must fit in a tight margin; a burst of concurrent ones queues for CPU, so it
# gets a looser one, still far below the fault's own length (SLOW_SECONDS, or forever).
SINGLE_MARGIN_SECONDS = 1.0
BURST_MARGIN_SECONDS = 3.5
SLOW_SECONDS = 6 * BUDGET_SECONDS
FAULTS = {
    # mode: the error codes SPEC allows for it
    "slow": {"provider_unreachable", "provider_error"},
    "hang": {"provider_unreachable", "provider_error"},
    "error": {"provider_error"},
    "down": {"provider_unreachable"},
}
CONCURRENT = 16


@pytest.mark.parametrize("mode", list(FAULTS))
def test_provider_fault_gives_502_in_budget_and_gives_the_token_back(stack, service, orders, mode):
    merchant = service.merchant(0)
    tokens_before = _used_tokens(stack, merchant)
    stack.provider.set_mode(mode, slow_seconds=SLOW_SECONDS)
    order_ids = orders.take(CONCURRENT + 1)
    keys = {order_id: f"{mode}-{uuid.uuid4().hex}" for order_id in order_ids}

    def timed_create(order_id):
        started = time.monotonic()
        response = service.create(merchant, order_id, key=keys[order_id], timeout=20)
        return response, time.monotonic() - started

    alone = timed_create(order_ids.pop())
    results = concurrently(timed_create, [(o,) for o in order_ids], workers=CONCURRENT)
    assert not [r for r in results if isinstance(r, Exception)], results
    calls_after_fault = stack.provider.total_calls
    stack.provider.set_mode("ok")

    slowest = max(seconds for _, seconds in results)
    payment_ids = []
    for response, _ in [alone, *results]:
        body = assert_error_shape(response, 502)
        assert body["error"] in FAULTS[mode], body
        payment_ids.append(body["payment_id"])
    assert alone[1] < BUDGET_SECONDS + SINGLE_MARGIN_SECONDS, alone[1]
    assert slowest < BUDGET_SECONDS + BURST_MARGIN_SECONDS, slowest
    assert _used_tokens(stack, merchant) == tokens_before, "every token was given back"
    for payment_id in payment_ids[:3]:
        shown = service.get(merchant, f"/{payment_id}/show")
        assert shown.json()["status"] == "PAYMENT_FAILED"
        events = service.get(merchant, f"/{payment_id}/tracking").json()["events"]
        assert any(e["event_type"] == "EVENT_PROVIDER_REQUEST_SENT" for e in events), events
        assert any("FAIL" in e["event_type"] for e in events), "the failure is on the timeline"

    # A retry with the same key replays the 502; the provider is not asked again.
    replay = service.create(merchant, order_ids[0], key=keys[order_ids[0]])
    assert_error_shape(replay, 502)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["payment_id"] == payment_ids[1]
    assert stack.provider.total_calls == calls_after_fault
    # With the provider back, the failed order is paid with a new payment.
    again = service.create(merchant, order_ids[0])
    assert again.status_code == 201, again.text
    assert again.json()["payment_id"] != payment_ids[1]

    record(
        f"provider_{mode}",
        requests=CONCURRENT + 1,
        answered_502=len(payment_ids),
        single_answer_seconds=round(alone[1], 2),
        slowest_concurrent_answer_seconds=round(slowest, 2),
        budget_seconds=BUDGET_SECONDS,
        tokens_leaked=_used_tokens(stack, merchant) - tokens_before - 1,
        lost=0,
        duplicated=0,
    )


def _used_tokens(stack, merchant) -> int:
    return stack.sql(
        "SELECT used_tokens FROM user_subscriptions WHERE merchant_id = %s", merchant["id"]
    )[0][0]
