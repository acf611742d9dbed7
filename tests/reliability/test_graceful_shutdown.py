"""Scenario 9: SIGTERM to the API and to the worker while they are busy.

- API: clients keep creating payments while gunicorn gets SIGTERM and is started again. No
  answer is a 5xx other than 503; requests in flight at the signal are answered; a client
  whose connection was refused may retry; and every payment in the database was answered
  201 to its client (no request was half done and dropped).
- Worker: SIGTERM in the middle of a backlog of deliveries; it stops within its grace period,
  messages it held go back to the queue, and after a new worker starts every notification
  arrives.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.reliability.helpers import create_payments, record, report_results, wait_until
from tests.support.stack import StackOptions, queue_consumers

pytestmark = pytest.mark.reliability

CLIENTS = 8
LOAD_SECONDS_BEFORE_SIGNAL = 1.5
BACKLOG = 300


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(worker_threads=8)


class _Load:
    """Clients creating payments in a loop; each remembers what it was answered."""

    def __init__(self, service, orders) -> None:
        self.service, self.orders = service, orders
        self.answers: list[tuple[int, int | None]] = []  # (order_id, status or None)
        self.created: dict[int, int] = {}  # order_id -> payment_id answered 201
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, index: int) -> None:
        merchant = self.service.merchant(index % 3)
        while not self._stop.is_set():
            with self._lock:
                order_id = self.orders.one()
            try:
                response = self.service.create(merchant, order_id, timeout=30)
                status = response.status_code
            except requests.ConnectionError:
                status = None
                time.sleep(0.05)
            with self._lock:
                self.answers.append((order_id, status))
                if status == 201:
                    self.created[order_id] = response.json()["payment_id"]

    def statuses(self) -> list[int | None]:
        with self._lock:
            return [status for _, status in self.answers]


def test_api_sigterm_under_load(stack, service, orders):
    stack.provider.latency = 0.2  # requests are in flight when the signal lands
    load = _Load(service, orders)
    load.start()
    time.sleep(LOAD_SECONDS_BEFORE_SIGNAL)
    api = stack.processes["api"]
    answered_before = len(load.statuses())
    signalled = time.monotonic()
    exit_code = api.terminate(timeout=30)
    stopped_seconds = time.monotonic() - signalled
    stack.start_api()
    back_seconds = time.monotonic() - signalled
    time.sleep(1.5)
    load.stop()

    statuses = load.statuses()
    server_errors = [s for s in statuses if s is not None and s >= 500 and s != 503]
    in_db = dict(
        stack.sql(
            "SELECT order_id, id FROM payments WHERE order_id = ANY(%s)",
            [order_id for order_id, _ in load.answers],
        )
    )
    unanswered_but_created = {o: p for o, p in in_db.items() if o not in load.created}
    figures = record(
        "api_sigterm",
        requests=len(statuses),
        answered_before_signal=answered_before,
        answered_201=statuses.count(201),
        answered_503=statuses.count(503),
        other_5xx=len(server_errors),
        connection_refused=statuses.count(None),
        gunicorn_exit_code=exit_code,
        stop_seconds=round(stopped_seconds, 2),
        back_up_seconds=round(back_seconds, 2),
        lost=len(unanswered_but_created),
        duplicated=0,
    )
    assert exit_code == 0, api.log_text()[-3000:]
    assert not server_errors, server_errors
    assert set(statuses) - {None} <= {201, 503}, set(statuses)
    assert figures["answered_201"] > answered_before, "the load went on after the restart"
    assert not unanswered_but_created, "a payment was made but its client got no answer"
    assert set(load.created.values()) <= set(in_db.values())


def test_worker_sigterm_loses_no_message(stack, service, orders):
    payment_ids = create_payments(service, orders, BACKLOG)
    wanted = set(payment_ids)
    worker = stack.processes["worker"]
    worker.stop()
    wait_until(lambda: queue_consumers(stack.queue_name) == 0, 30, what="worker gone")
    answers = report_results(service, payment_ids)
    assert all(getattr(a, "status_code", None) == 200 for a in answers)

    stack.merchant.latency = 0.05
    stack.start_worker()
    wait_until(lambda: len(stack.merchant.delivered_payments() & wanted) >= BACKLOG * 0.3, 60, 0.02)
    signalled = time.monotonic()
    exit_code = worker.terminate(timeout=60)
    stop_seconds = time.monotonic() - signalled
    delivered_at_stop = len(stack.merchant.delivered_payments() & wanted)
    stack.start_worker()
    restarted = time.monotonic()
    recovery = wait_until(
        lambda: stack.merchant.delivered_payments() >= wanted, 90, 0.2, "all delivered"
    )
    stack.merchant.latency = 0.0
    ours = [d for d in stack.merchant.accepted() if d.payment_id in wanted]
    figures = record(
        "worker_sigterm",
        notifications=BACKLOG,
        delivered_when_stopped=delivered_at_stop,
        worker_exit_code=exit_code,
        stop_seconds=round(stop_seconds, 2),
        recovery_after_restart_seconds=round(recovery, 1),
        restarted_after_seconds=round(restarted - signalled, 1),
        delivered_twice=len(ours) - len({d.webhook_id for d in ours}),
        lost=len(wanted - stack.merchant.delivered_payments()),
    )
    assert exit_code == 0, worker.log_text()[-3000:]
    assert figures["lost"] == 0
