"""Scenario 6: the merchant's endpoint fails, hangs, refuses connections or answers 410.

Schedule compressed to NOTIFY_RETRY_SCHEDULE=1,1,2 (4 attempts) and NOTIFY_TIMEOUT_SECONDS=2.
- 500 for a few seconds, or hanging past the timeout for a while: every notification arrives
  after the merchant recovers, and the tracking shows attempts > 1 with the last error.
- Down for longer than the whole schedule: LOG_FAILED, then `redeliver` brings it home.
- 410: retries stop at once (LOG_FAILED, exactly one call per notification, none later).
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.helpers import (
    create_payments,
    notification_rows,
    record,
    report_results,
    wait_until,
)
from tests.support.stack import StackOptions

pytestmark = pytest.mark.reliability

BATCH = 20


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    # A hanging merchant holds a worker thread per delivery for a whole attempt.
    return StackOptions(worker_threads=12)


def _finish(service, orders, count=BATCH):
    payment_ids = create_payments(service, orders, count)
    answers = report_results(service, payment_ids)
    assert all(getattr(a, "status_code", None) == 200 for a in answers)
    return payment_ids


def _notification_event(service, merchant, payment_id) -> dict:
    events = service.get(merchant, f"/{payment_id}/tracking").json()["events"]
    notifications = [e for e in events if e["event_type"] == "EVENT_MERCHANT_NOTIFICATION_SENT"]
    assert len(notifications) == 1, events
    return notifications[0]


def _merchant_of(service, index):
    return service.merchant(index % 3)


# The outage lasts until every notification was tried once, then this much longer: for "hang"
# past a whole first attempt (3 quick tries of NOTIFY_TIMEOUT_SECONDS each), so the merchant's
# recovery can only be seen by a later, scheduled attempt.
@pytest.mark.parametrize(
    ("mode", "batch", "outage_after_first_try"), [("error", BATCH, 1.5), ("hang", 10, 7.0)]
)
def test_all_delivered_after_a_merchant_outage(
    stack, service, orders, mode, batch, outage_after_first_try
):
    stack.merchant.set_mode(mode)
    started = time.monotonic()
    payment_ids = _finish(service, orders, batch)
    wanted = set(payment_ids)
    wait_until(
        lambda: all(stack.merchant.attempts_for(pid) for pid in payment_ids),
        60,
        0.1,
        "every notification tried during the outage",
    )
    time.sleep(outage_after_first_try)
    assert not stack.merchant.delivered_payments() & wanted, "nothing got through the outage"
    stack.merchant.set_mode("ok")
    recovered_at = time.monotonic()
    recovery = wait_until(
        lambda: stack.merchant.delivered_payments() >= wanted, 60, 0.2, "all delivered"
    )

    events = [
        _notification_event(service, _merchant_of(service, i), pid)
        for i, pid in enumerate(payment_ids)
    ]
    attempts = [e["attempts"] for e in events]
    calls = [len(stack.merchant.attempts_for(pid)) for pid in payment_ids]
    ours = [d for d in stack.merchant.accepted() if d.payment_id in wanted]
    record(
        f"merchant_{mode}",
        notifications=batch,
        outage_seconds=round(recovered_at - started, 1),
        recovery_seconds=round(recovery, 1),
        attempts_min=min(attempts),
        attempts_max=max(attempts),
        http_calls_total=sum(calls),
        delivered=len({d.payment_id for d in ours}),
        delivered_twice=len(ours) - len({d.webhook_id for d in ours}),
        lost=len(wanted - stack.merchant.delivered_payments()),
    )
    assert min(attempts) > 1, attempts
    assert all(e["status"] == "LOG_SUCCESS" for e in events), events[:2]
    assert all(e["last_response_code"] in (200, 201, 202, 204) for e in events), events[:2]
    assert {len({d.webhook_id for d in stack.merchant.attempts_for(p)}) for p in wanted} == {1}


def test_down_past_the_whole_schedule_then_redeliver(stack, service, orders):
    stack.merchant.set_mode("down")
    payment_ids = _finish(service, orders, 5)
    wait_until(
        lambda: {s for s, *_ in notification_rows(stack, payment_ids).values()} == {"LOG_FAILED"},
        40,
        0.5,
        "every notification LOG_FAILED after the last attempt",
    )
    gave_up = {pid: row[1] for pid, row in notification_rows(stack, payment_ids).items()}
    failed_event = _notification_event(service, _merchant_of(service, 0), payment_ids[0])
    assert failed_event["last_error"], failed_event
    stack.merchant.set_mode("ok")
    queued = [
        service.post(_merchant_of(service, i), f"/{pid}/notifications/redeliver")
        for i, pid in enumerate(payment_ids)
    ]
    assert [r.status_code for r in queued] == [202] * len(payment_ids), queued[0].text
    assert all(r.json()["queued"] >= 1 for r in queued)
    recovery = wait_until(
        lambda: stack.merchant.delivered_payments() >= set(payment_ids), 30, 0.2, "redelivered"
    )
    record(
        "merchant_down_then_redeliver",
        notifications=len(payment_ids),
        attempts_before_giving_up=sorted(set(gave_up.values())),
        redeliver_to_delivered_seconds=round(recovery, 1),
        lost=0,
        delivered_twice=stack.merchant.duplicates(),
    )
    assert set(gave_up.values()) == {4}, "1 + len(NOTIFY_RETRY_SCHEDULE) attempts"


def test_410_stops_retries(stack, service, orders):
    stack.merchant.set_mode("gone")
    payment_ids = _finish(service, orders, 10)
    wait_until(
        lambda: {s for s, *_ in notification_rows(stack, payment_ids).values()} == {"LOG_FAILED"},
        20,
        0.2,
        "LOG_FAILED after the 410",
    )
    time.sleep(5)  # longer than the whole retry schedule: nothing more may come
    calls = {pid: len(stack.merchant.attempts_for(pid)) for pid in payment_ids}
    rows = notification_rows(stack, payment_ids)
    record(
        "merchant_410",
        notifications=len(payment_ids),
        calls_per_notification=sorted(set(calls.values())),
        statuses=sorted({row[0] for row in rows.values()}),
        lost=0,
        duplicated=0,
    )
    assert set(calls.values()) == {1}, calls
    assert {row[0] for row in rows.values()} == {"LOG_FAILED"}
    event = _notification_event(service, _merchant_of(service, 0), payment_ids[0])
    assert event["last_response_code"] == 410
