"""Scenario 8: two schedulers; the leader is SIGKILLed; the standby takes over the sweep.

The API reaches RabbitMQ through a proxy that stays cut, so its fast-path publish always fails
and a notification can only reach the merchant through the sweep: the time from "payment
finished" to "merchant has it" measures whether a scheduler is sweeping.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.helpers import create_payments, record, report_results, wait_until
from tests.support.stack import FAST_SETTINGS, StackOptions, queue_depth

pytestmark = pytest.mark.reliability

FAILOVER_LIMIT_SECONDS = 15
SWEEP_INTERVAL = float(FAST_SETTINGS["SWEEP_INTERVAL_SECONDS"])
RATE_WINDOW_SECONDS = 4
IN_FLIGHT_GRACE_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(schedulers=1, proxied={"broker": ("api",)})


def _swept_in(stack, service, orders, timeout: float) -> float:
    """Finish one payment (fast path cut) and return the seconds until the merchant has it."""
    (payment_id,) = create_payments(service, orders, 1, merchants=(0,))
    (answer,) = report_results(service, [payment_id])
    assert answer.status_code == 200, answer.text
    reported = time.monotonic()
    wait_until(lambda: payment_id in stack.merchant.delivered_payments(), timeout, 0.05, "swept")
    return time.monotonic() - reported


def _sweep_rate(stack) -> float:
    """Sweep messages sent per second, counted in RabbitMQ while no worker consumes them."""
    worker = stack.processes["worker"]
    worker.stop()
    sweep_queue = f"{stack.queue_name}.sweep"
    first = queue_depth(sweep_queue)
    time.sleep(RATE_WINDOW_SECONDS)
    rate = (queue_depth(sweep_queue) - first) / RATE_WINDOW_SECONDS
    stack.start_worker()
    return rate


def _failover(stack, service, orders, victim) -> float:
    """SIGKILL `victim` (the leader) and return the seconds until a sweep runs again. The
    payment is reported IN_FLIGHT_GRACE_SECONDS after the kill, so a sweep the dead leader sent
    just before dying cannot pass for the standby's."""
    victim.kill()
    killed_at = time.monotonic()
    time.sleep(IN_FLIGHT_GRACE_SECONDS)
    (payment_id,) = create_payments(service, orders, 1, merchants=(0,))
    assert report_results(service, [payment_id])[0].status_code == 200
    wait_until(
        lambda: payment_id in stack.merchant.delivered_payments(),
        FAILOVER_LIMIT_SECONDS + 10,
        0.05,
        "a standby swept",
    )
    return time.monotonic() - killed_at


def test_standby_scheduler_takes_over_when_the_leader_dies(stack, service, orders):
    stack.proxy("broker").cut()
    leader = stack.processes["scheduler0"]
    alone = _swept_in(stack, service, orders, 20)  # scheduler0 is the only one: the leader

    standby = stack.start_scheduler("scheduler1")
    time.sleep(2)
    with_standby = _swept_in(stack, service, orders, 20)
    assert standby.running()
    sweeps_per_second = _sweep_rate(stack)

    assert "is the leader" in leader.log_text(), "scheduler0 led before it was killed"
    assert "is the leader" not in standby.log_text(), "scheduler1 stood by"
    failover = _failover(stack, service, orders, leader)
    after_failover = _swept_in(stack, service, orders, 20)

    # And back: the restarted old leader stands by; killing the new leader hands over again.
    leader.start()
    time.sleep(2)
    second_failover = _failover(stack, service, orders, standby)

    record(
        "scheduler_failover",
        sweep_latency_single_seconds=round(alone, 2),
        sweep_latency_with_standby_seconds=round(with_standby, 2),
        sweeps_per_second_with_two_schedulers=round(sweeps_per_second, 2),
        expected_sweeps_per_second=1 / SWEEP_INTERVAL,
        failover_seconds=round(failover, 2),
        in_flight_grace_seconds=IN_FLIGHT_GRACE_SECONDS,
        sweep_latency_after_failover_seconds=round(after_failover, 2),
        second_failover_seconds=round(second_failover, 2),
        lost=0,
        duplicated=stack.merchant.duplicates(),
    )
    # One active scheduler sends 1/SWEEP_INTERVAL sweeps a second; two would send twice that.
    assert sweeps_per_second < 1.5 / SWEEP_INTERVAL, sweeps_per_second
    assert failover < FAILOVER_LIMIT_SECONDS
    assert second_failover < FAILOVER_LIMIT_SECONDS
