"""Scenario 3: the dramatiq worker is SIGKILLed twice in the middle of delivering a backlog of
merchant notifications, and restarted each time.

N payments finish while the worker is stopped, so N notify messages wait in RabbitMQ; then the
worker starts and is killed (whole process group, no cleanup) at about 20 % and 55 % of the
deliveries. Every notification must reach the merchant (N distinct webhook-ids, each verified
with `standardwebhooks`); the ones delivered twice (at-least-once) are counted and reported.

N is 1,000 as in SPEC; RELIABILITY_WORKER_KILL_N changes it (e.g. on a slower machine).
"""

from __future__ import annotations

import os
import time

import pytest

from tests.reliability.helpers import (
    create_payments,
    notification_rows,
    record,
    report_results,
    wait_until,
)
from tests.support.stack import StackOptions, queue_consumers

pytestmark = pytest.mark.reliability

N = int(os.environ.get("RELIABILITY_WORKER_KILL_N", "1000"))
KILL_AT = (0.20, 0.55)


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(worker_threads=8)


def test_every_notification_arrives_despite_two_sigkills(stack, service, orders):
    started = time.monotonic()
    payment_ids = create_payments(service, orders, N)
    created_seconds = time.monotonic() - started
    worker = stack.processes["worker"]
    worker.stop()
    wait_until(lambda: queue_consumers(stack.queue_name) == 0, 30, what="worker gone")

    answers = report_results(service, payment_ids)
    assert all(getattr(a, "status_code", None) == 200 for a in answers), [
        getattr(a, "text", a) for a in answers if getattr(a, "status_code", None) != 200
    ][:3]
    reported_seconds = time.monotonic() - started - created_seconds
    wanted = set(payment_ids)
    merchant = stack.merchant
    merchant.latency = 0.02  # deliveries are in flight when the kill comes

    def delivered() -> int:
        return len(merchant.delivered_payments() & wanted)

    delivery_started = time.monotonic()
    stack.start_worker()
    kills = []
    for fraction in KILL_AT:
        wait_until(lambda f=fraction: delivered() >= f * N, 120, 0.02, f"{fraction:.0%} delivered")
        delivered_at_kill = delivered()
        worker.kill()
        seconds = round(time.monotonic() - delivery_started, 2)
        kills.append({"delivered_at_kill": delivered_at_kill, "seconds": seconds})
        wait_until(lambda: queue_consumers(stack.queue_name) == 0, 30, what="killed worker gone")
        stack.start_worker()
    last_kill = time.monotonic()
    wait_until(lambda: delivered() == N, 180, 0.2, "every notification delivered")
    finished = time.monotonic()
    merchant.latency = 0.0

    rows = notification_rows(stack, payment_ids)
    ours = [d for d in merchant.accepted() if d.payment_id in wanted]
    ids_by_payment: dict[int, set[str]] = {}
    for delivery in ours:
        ids_by_payment.setdefault(delivery.payment_id, set()).add(delivery.webhook_id)
    duplicates = len(ours) - len({d.webhook_id for d in ours})
    figures = record(
        "worker_kill",
        payments=N,
        sigkills=len(kills),
        kills=kills,
        create_seconds=round(created_seconds, 1),
        report_seconds=round(reported_seconds, 1),
        delivery_seconds=round(finished - delivery_started, 1),
        recovered_after_last_kill_seconds=round(finished - last_kill, 1),
        distinct_webhook_ids=len({d.webhook_id for d in ours}),
        delivered_twice=duplicates,
        lost=N - len(ids_by_payment),
        invalid_signatures=merchant.invalid_signatures(),
        cut_off_mid_request=merchant.incomplete,
        rows_not_success=sum(1 for status, *_ in rows.values() if status != "LOG_SUCCESS"),
    )
    assert figures["lost"] == 0
    assert figures["distinct_webhook_ids"] == N
    assert all(len(ids) == 1 for ids in ids_by_payment.values()), "webhook-id stable per payment"
    assert figures["invalid_signatures"] == 0
    wait_until(
        lambda: all(s == "LOG_SUCCESS" for s, *_ in notification_rows(stack, payment_ids).values()),
        30,
        0.5,
        "every outbox row LOG_SUCCESS (none left PROCESSING past its lease)",
    )
