"""What the scenarios share: bounded waits, concurrent load, SPEC's error-shape check, and the
figures each scenario records for docs/reliability.md."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.support.processes import PROJECT_ROOT

FIGURES_DIR = PROJECT_ROOT / "test-output" / "reliability"
ERROR_KEYS = {"code", "status", "message", "error"}


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = ""
) -> float:
    """Poll until `predicate()` is truthy; returns the seconds it took, fails after `timeout`."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what or predicate}")
        time.sleep(interval)


def concurrently(function: Callable, arguments: Iterable, workers: int = 32) -> list:
    """Call `function(*args)` for every args tuple on a pool; results keep the input order.
    An exception is returned in place of its result, so one failure does not hide the rest."""

    def guarded(args):
        try:
            return function(*args)
        except Exception as error:  # the scenario counts and reports these
            return error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(guarded, arguments))


def assert_error_shape(response: requests.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.text
    body = response.json()
    assert body.keys() >= ERROR_KEYS, body
    assert body["code"] == status, body
    if code is not None:
        assert body["error"] == code, body
    return body


def record(scenario: str, **figures: Any) -> dict:
    """Write the scenario's figures to test-output/reliability/<scenario>.json and print them."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    document = {"scenario": scenario, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"), **figures}
    (FIGURES_DIR / f"{scenario}.json").write_text(json.dumps(document, indent=2, default=str))
    print(f"\n[reliability] {scenario}: {json.dumps(figures, default=str)}")
    return document


class OrderIds:
    """Fresh order ids for one module (its tests share one database)."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def take(self, count: int = 1) -> list[int]:
        first = self._next
        self._next += count
        return list(range(first, first + count))

    def one(self) -> int:
        return self.take(1)[0]


def create_payments(service, orders: OrderIds, count: int, merchants=(0, 1, 2), workers=32):
    """`count` pending payments spread over the seeded merchants; returns their ids."""
    jobs = [
        (service.merchant(merchants[i % len(merchants)]), order_id)
        for i, order_id in enumerate(orders.take(count))
    ]
    responses = concurrently(lambda m, o: service.create(m, o), jobs, workers=workers)
    failed = [r for r in responses if isinstance(r, Exception) or r.status_code != 201]
    assert not failed, [getattr(r, "text", r) for r in failed[:3]]
    return [r.json()["payment_id"] for r in responses]


def report_results(service, payment_ids, status: str = "finished", workers=32) -> list:
    """The provider reports every payment (signed webhook); returns the responses."""
    return concurrently(
        lambda pid: service.provider_report(pid, status), [(p,) for p in payment_ids], workers
    )


def notification_rows(stack, payment_ids) -> dict[int, tuple]:
    """payment_id -> (status, attempts, webhook_id) of its merchant notification."""
    rows = stack.sql(
        "SELECT payment_id, status, attempts, webhook_id FROM payment_logs"
        " WHERE event_type = 'EVENT_MERCHANT_NOTIFICATION_SENT' AND payment_id = ANY(%s)",
        list(payment_ids),
    )
    return {row[0]: row[1:] for row in rows}
