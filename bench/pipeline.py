"""The notification pipeline end to end: provider reports in, merchant notifications out.

`pipeline`: N pending payments are finished through the signed provider webhook; the merchant
fake records when each notification arrives, PostgreSQL when its outbox row was written. Twice:
- as fast as the webhook takes the reports (16 connections, closed loop): the throughput. The
  reports can then arrive faster than notifications leave, and their latency depends on how
  the 2 cores are shared between taking reports and delivering them, whatever the service does;
- paced at the throughput target, 300 reports/s (open loop): the latency targets, i.e. how soon
  a merchant hears at the load the service is asked to carry.
`sweep`: N notifications stranded in the outbox (rows written straight into the table, as if the
broker had been down when they committed); the periodic sweep must find and deliver them all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from bench import dataset, loadgen
from bench.context import Bench, PipelineResult, SweepResult
from bench.fakes import merchant_control
from bench.targets import PIPELINE_PER_SECOND, paced_rate_kept
from payments.domain.statuses import EventType, LogStatus

API = "/api/v1/payments"
PIPELINE_ORDERS, SWEEP_ORDERS = 500_000_000, 600_000_000
PROFILE_ORDERS, SWEEP_PROFILE_ORDERS = 700_000_000, 800_000_000
# Give up waiting when nothing new arrived for this long (a stalled pipeline, not a slow one).
STALL_SECONDS = 30


FLOOR_ORDERS = 900_000_000
PACED = 50_000_000  # added to a run's first order for its paced run
WEBHOOK, FLOOR_WEBHOOK = f"{API}/webhook", "/floor/webhook"  # the floor: bench/floor.py


def signed_report(secret: str, payment_id: int, status: str = "finished", path: str = WEBHOOK):
    body = json.dumps({"payment_id": payment_id, "status": status}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Internal-Signature": signature}
    return "POST", path, headers, body


def pipeline(bench: Bench) -> None:
    bench.results.pipeline = finish_payments(
        bench, bench.options.pipeline_payments, PIPELINE_ORDERS
    )
    # Under the profiler: the same again on fresh payments, for about as long as it profiles.
    bench.profile_loads["pipeline"] = lambda: finish_payments(
        bench, max(100, round(bench.options.profile_seconds * 200)), PROFILE_ORDERS
    )
    # The same N through the floor's webhook and actor, served with the baseline.
    bench.results.floor_pipeline = finish_payments(
        bench, bench.options.pipeline_payments, FLOOR_ORDERS, floor=True
    )
    # Both again at the target's rate, for the latency targets.
    results, count = bench.results, bench.options.pipeline_payments
    rate = PIPELINE_PER_SECOND
    results.paced_pipeline = finish_payments(bench, count, PIPELINE_ORDERS + PACED, per_second=rate)
    if results.paced_pipeline and not paced_rate_kept(results.paced_pipeline.intake.rps):
        results.notes.append(
            f"pipeline: the webhook took {results.paced_pipeline.intake.rps:.0f} of the "
            f"{rate} reports/s offered; the latency targets are not judged at a lighter load."
        )
    results.floor_paced_pipeline = finish_payments(
        bench, count, FLOOR_ORDERS + PACED, floor=True, per_second=rate
    )


def finish_payments(
    bench: Bench,
    count: int,
    first_order: int,
    floor: bool = False,
    per_second: float | None = None,
) -> PipelineResult | None:
    stack = bench.stack
    merchant = stack.merchants[0]
    ids = dataset.pending_payments(stack.database_dsn, merchant.id, count, first_order)
    merchant_control(bench.fakes, "_reset")
    path, url = (FLOOR_WEBHOOK, stack.baseline_url) if floor else (WEBHOOK, stack.service_url)
    reports = [signed_report(stack.webhook_secret, payment_id, path=path) for payment_id in ids]
    before = bench.cpu_snapshot()
    started = time.time()
    if per_second is None:
        intake = loadgen.send_all(url, reports, bench.options.connections)
    else:
        intake = loadgen.send_paced(url, reports, per_second, bench.options.connections)
    print(
        f"bench: {'floor ' if floor else ''}provider reports"
        f"{' paced' if per_second else ''} {intake.rps:9.1f} req/s"
        f"  p50 {intake.p50_ms or 0:8.2f} ms  p99 {intake.p99_ms or 0:8.2f} ms"
        f"  statuses {intake.statuses}"
    )
    if intake.statuses.get(200, 0) < count / 2:
        bench.results.notes.append(
            f"{'floor ' if floor else ''}pipeline: the provider webhook answered "
            f"{intake.statuses} to {count} reports; "
            "no pipeline figures."
        )
        return None
    first_arrivals = _wait_for(bench, set(ids), started)
    committed = dataset.notification_created_at(
        stack.database_dsn, list(first_arrivals), EventType.MERCHANT_NOTIFICATION
    )
    latencies = [
        (arrived - committed[payment_id]) * 1000
        for payment_id, arrived in first_arrivals.items()
        if payment_id in committed
    ]
    total = merchant_control(bench.fakes, "_count")["count"]
    cpu_ms = bench.cpu_per_unit(before, len(first_arrivals))
    return PipelineResult(
        payments=count,
        delivered=len(first_arrivals),
        duplicates=total - len(first_arrivals),
        seconds=(max(first_arrivals.values()) - started) if first_arrivals else 0.0,
        latencies_ms=latencies,
        intake=intake,
        cpu_ms=cpu_ms,
        paced_per_second=per_second,
    )


def sweep(bench: Bench) -> None:
    count = bench.options.sweep_notifications
    result = rescue(bench, count, SWEEP_ORDERS)
    bench.results.sweep = result
    if result.seconds is None:
        bench.results.notes.append(
            f"sweep: only {result.delivered:,} of {count:,} stranded notifications arrived."
        )
    # Under the profiler: enough stranded rows to keep the workers busy while it samples.
    profiled = min(count, max(100, round(bench.options.profile_seconds * 200)))
    bench.profile_loads["sweep"] = lambda: rescue(bench, profiled, SWEEP_PROFILE_ORDERS)


def rescue(bench: Bench, count: int, first_order: int) -> SweepResult:
    """Strand `count` notifications in the outbox and wait until the merchant has them all."""
    stack = bench.stack
    merchant_control(bench.fakes, "_reset")
    ids = dataset.stranded_notifications(
        stack.database_dsn,
        stack.merchants[2].id,
        count,
        first_order,
        EventType.MERCHANT_NOTIFICATION,
        LogStatus.PENDING,
    )
    before = bench.cpu_snapshot()
    committed = time.time()
    print(f"bench: {count:,} notifications stranded in the outbox; waiting for the sweep ...")
    first_arrivals = _wait_for(bench, set(ids), committed)
    everything = len(first_arrivals) == count
    return SweepResult(
        stranded=count,
        delivered=len(first_arrivals),
        seconds=(max(first_arrivals.values()) - committed) if everything else None,
        cpu_ms=bench.cpu_per_unit(before, len(first_arrivals)),
    )


def _wait_for(bench: Bench, ids: set[int], since: float) -> dict[int, float]:
    """payment_id -> first arrival time at the merchant, once every id arrived or nothing new
    came for STALL_SECONDS."""
    seen, last_progress = 0, time.monotonic()
    while time.monotonic() - last_progress < STALL_SECONDS:
        count = merchant_control(bench.fakes, "_count")["count"]
        if count != seen:
            seen, last_progress = count, time.monotonic()
            if count >= len(ids) and len(_first_arrivals(bench, ids)) == len(ids):
                break
        time.sleep(0.2)
    arrivals = _first_arrivals(bench, ids)
    print(f"bench: {len(arrivals):,} of {len(ids):,} notified, {time.time() - since:.1f} s")
    return arrivals


def _first_arrivals(bench: Bench, ids: set[int]) -> dict[int, float]:
    first: dict[int, float] = {}
    for arrived, payment_id, _webhook_id in merchant_control(bench.fakes, "_arrivals"):
        if payment_id in ids and (payment_id not in first or arrived < first[payment_id]):
            first[payment_id] = arrived
    return first
