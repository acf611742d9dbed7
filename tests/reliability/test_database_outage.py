"""Scenario 5: PostgreSQL goes away while payments are being created.

Every process reaches the database through one TCP proxy; `cut()` resets its connections and
refuses new ones, as a crashed or unreachable database server does.

- Down when the request arrives: the client gets SPEC's JSON 503, nothing is written, no token
  is spent, and the service answers normally again as soon as the database is back.
- Cut in the middle of a create (after the pending payment committed, while the provider call
  is in flight): JSON 503; the client's retry with its Idempotency-Key finishes that same
  payment (one payment, one token); a request without a key leaves a linkless pending payment
  that the sweep fails and refunds by itself once it is older than the provider budget plus
  5 minutes (the test ages that row with SQL instead of waiting).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.reliability.helpers import assert_error_shape, record, wait_until
from tests.support.stack import ROLES, StackOptions

pytestmark = pytest.mark.reliability

# The sweep gives up on a linkless payment PROVIDER_TIMEOUT_SECONDS + 5 minutes after its
# creation (payments/services/sweep.py, ABANDON_MARGIN). Rather than wait that long, the test
# ages the row's created_at by this much with SQL and measures how fast the sweep acts.
AGE_PAST_ABANDON_MINUTES = 6


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(proxied={"db": ROLES})


def test_database_down_on_arrival_gives_json_503_and_writes_nothing(stack, service, orders):
    merchant = service.merchant(0)
    warm = service.create(merchant, orders.one())  # the key is now in the auth cache
    assert warm.status_code == 201, warm.text
    tokens_before = _used_tokens(stack, merchant)
    order_id, key = orders.one(), f"db-down-{uuid.uuid4().hex}"

    stack.proxy("db").cut()
    started = time.monotonic()
    refused = service.create(merchant, order_id, key=key, timeout=15)
    answer_seconds = time.monotonic() - started
    listed = service.get(merchant, "", page=1, limit=5)
    health = service.session.get(f"{stack.base_url}/api/v1/payments/health", timeout=15)
    ping = service.session.get(f"{stack.base_url}/api/v1/payments/ping", timeout=15)

    assert_error_shape(refused, 503, "service_unavailable")
    assert_error_shape(listed, 503, "service_unavailable")
    assert health.status_code == 503
    assert health.json()["checks"]["database"] != "ok"
    assert ping.status_code == 200, "liveness does not depend on the database"
    assert answer_seconds < 8, "a dead database must fail a request quickly"

    stack.proxy("db").restore()
    restored_at = time.monotonic()
    assert _payments_of_order(stack, merchant, order_id) == []
    assert _used_tokens(stack, merchant) == tokens_before
    retried = _retry_until_answered(service, merchant, order_id, key)
    recovery = time.monotonic() - restored_at
    assert retried.status_code == 201, retried.text
    assert _used_tokens(stack, merchant) == tokens_before + 1
    record(
        "database_down_on_arrival",
        answer_status=refused.status_code,
        answer_seconds=round(answer_seconds, 2),
        payments_written_during_outage=0,
        tokens_spent_during_outage=0,
        recovery_seconds=round(recovery, 2),
        lost=0,
        duplicated=0,
    )


def test_database_cut_mid_create(stack, service, orders):
    merchant = service.merchant(1)
    assert service.create(merchant, orders.one()).status_code == 201
    tokens_before = _used_tokens(stack, merchant)
    keyed_order, keyless_order = orders.one(), orders.one()
    key = f"db-cut-{uuid.uuid4().hex}"
    stack.provider.latency = 0.6  # the provider call is in flight when the database goes

    calls_before = stack.provider.total_calls
    answers: dict[str, object] = {}
    threads = [
        threading.Thread(
            target=_store,
            args=(answers, "keyed", service.create, merchant, keyed_order),
            kwargs={"key": key, "timeout": 20},
        ),
        threading.Thread(
            target=_store,
            args=(answers, "keyless", service.create, merchant, keyless_order),
            kwargs={"timeout": 20},
        ),
    ]
    for thread in threads:
        thread.start()
    wait_until(
        lambda: stack.provider.total_calls >= calls_before + 2,
        10,
        0.01,
        "both creates reached the provider",
    )
    stack.proxy("db").cut()
    cut_at = time.monotonic()
    for thread in threads:
        thread.join(timeout=30)
    time.sleep(1)
    stack.proxy("db").restore()
    stack.provider.latency = 0.0

    for name in ("keyed", "keyless"):
        assert_error_shape(answers[name], 503, "service_unavailable")
    keyed_rows = _payments_of_order(stack, merchant, keyed_order)
    keyless_rows = _payments_of_order(stack, merchant, keyless_order)
    # The pending payments committed before the provider call are there, without a link.
    assert [status for _, status, _ in keyed_rows] == ["PAYMENT_PENDING"]
    assert [url for _, _, url in keyless_rows] == [None]

    retried = _retry_until_answered(service, merchant, keyed_order, key, deadline=40)
    assert retried.status_code == 201, retried.text
    assert retried.json()["payment_id"] == keyed_rows[0][0], "the retry finished that payment"
    assert retried.json()["payment_url"]
    key_recovery = time.monotonic() - cut_at

    assert _payments_of_order(stack, merchant, keyless_order)[0][1] == "PAYMENT_PENDING"
    stack.sql(
        "UPDATE payments SET created_at = now() - make_interval(mins => %s) WHERE id = %s",
        AGE_PAST_ABANDON_MINUTES,
        keyless_rows[0][0],
    )
    sweep_recovery = wait_until(
        lambda: _payments_of_order(stack, merchant, keyless_order)[0][1] == "PAYMENT_FAILED",
        20,
        0.1,
        "the sweep fails the linkless payment once it is old enough",
    )
    assert _used_tokens(stack, merchant) == tokens_before + 1, "only the finished create spent"
    assert len(_payments_of_order(stack, merchant, keyed_order)) == 1
    again = service.create(merchant, keyless_order)
    assert again.status_code == 201, "a failed order may be paid again"
    record(
        "database_cut_mid_create",
        answers=[answers["keyed"].status_code, answers["keyless"].status_code],
        keyed_retry_recovered_seconds=round(key_recovery, 2),
        keyless_abandoned_after_due_seconds=round(sweep_recovery, 2),
        keyless_due_after="PROVIDER_TIMEOUT_SECONDS + 5 min (created_at aged by SQL)",
        payments_for_keyed_order=1,
        tokens_spent=1,
        lost=0,
        duplicated=0,
    )


def _store(answers: dict, name: str, function, *args, **kwargs) -> None:
    try:
        answers[name] = function(*args, **kwargs)
    except Exception as error:
        answers[name] = error


def _retry_until_answered(service, merchant, order_id, key, deadline: float = 30):
    """A client retrying with its key: on 503, and on 409 after Retry-After."""
    stop = time.monotonic() + deadline
    while True:
        response = service.create(merchant, order_id, key=key, timeout=15)
        if response.status_code not in (409, 503) or time.monotonic() > stop:
            return response
        time.sleep(min(float(response.headers.get("Retry-After", 1)), 2))


def _payments_of_order(stack, merchant, order_id) -> list[tuple]:
    return stack.sql(
        "SELECT id, status, payment_url FROM payments WHERE merchant_id = %s AND order_id = %s"
        " ORDER BY id",
        merchant["id"],
        order_id,
    )


def _used_tokens(stack, merchant) -> int:
    return stack.sql(
        "SELECT used_tokens FROM user_subscriptions WHERE merchant_id = %s", merchant["id"]
    )[0][0]
