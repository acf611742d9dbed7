"""GET /metrics in the Prometheus text format.

Two kinds of series:
- HTTP requests by route (the URL rule, never the raw path) and status, with latency
  histograms. Every gunicorn worker counts its own; with PROMETHEUS_MULTIPROC_DIR set (by
  gunicorn.conf.py) prometheus_client keeps them in per-process files and a scrape, answered
  by any one worker, sums them all.
- The pipeline read from the database at scrape time (services.metrics): the same whichever
  worker answers, so never written to those files. The outbox health (what alerts use) is read
  on every scrape; the whole-table totals at most every TOTALS_TTL_SECONDS per process.

The endpoint is a plain Flask blueprint, not a flask-smorest one: it is for the scraper, not
part of the merchant API, and stays out of the OpenAPI document.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    request,
    request_finished,
    request_started,
)
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from payments.domain.statuses import ACTIVE_LOG_STATUSES, LogStatus, PaymentStatus
from payments.services.metrics import OutboxHealth, PipelineTotals, outbox_health, pipeline_totals

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "unmatched"  # any path no rule matches: one series, whatever was asked
TOTALS_TTL_SECONDS = 30.0

HTTP_REQUESTS = Counter(
    "payments_http_requests_total",
    "HTTP requests answered, by method, route (URL rule) and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "payments_http_request_duration_seconds",
    "Time from the start of the request to the response, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

blueprint = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    request_started.connect(_mark_start, app)
    request_finished.connect(_observe, app)


@blueprint.get("/metrics")
def metrics() -> Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(_scrape_registry()), content_type=content_type)


def _mark_start(_sender: Flask, **_extra) -> None:
    g.metrics_started = time.perf_counter()


def _observe(_sender: Flask, response: Response, **_extra) -> None:
    started = g.get("metrics_started")
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    if started is not None:
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)


def _scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    directory = current_app.extensions["payments_settings"].prometheus_multiproc_dir
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(PipelineCollector())
    return registry


class _Forward:
    """Single-process mode: this process's own metrics (and its process/GC collectors)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self):
        return self.source.collect()


class TotalsCache:
    """Whole-table counts, recomputed at most every `ttl` seconds per process (a failure too is
    kept that long, so a query that times out is not retried on every scrape)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._taken_at: float | None = None
        self._totals: PipelineTotals | None = None

    def get(self) -> tuple[PipelineTotals | None, float]:
        """The totals (None if the last attempt failed) and their age in seconds."""
        with self._lock:
            if self._taken_at is None or time.monotonic() - self._taken_at >= self.ttl:
                self._totals = _read(pipeline_totals, "totals")
                self._taken_at = time.monotonic()
            return self._totals, time.monotonic() - self._taken_at

    def clear(self) -> None:
        with self._lock:
            self._taken_at, self._totals = None, None


TOTALS = TotalsCache(ttl=TOTALS_TTL_SECONDS)


def _read(query, what: str):
    try:
        return query()
    except Exception:  # a scrape reports the outage through *_up gauges; it must not be a 500
        log.warning(
            "metrics: could not read the pipeline %s from the database", what, exc_info=True
        )
        return None


class PipelineCollector:
    """Gauges read from the database when scraped: the outbox health on every scrape, the
    whole-table totals from TOTALS."""

    def collect(self):
        started = time.perf_counter()
        health = _read(outbox_health, "health")
        yield _gauge(
            "payments_metrics_database_up", "1 if the health queries answered.", health is not None
        )
        if health is not None:
            yield _gauge(
                "payments_metrics_database_seconds",
                "Time the health queries of this scrape took.",
                time.perf_counter() - started,
            )
            yield from _health_families(health)
        totals, age = TOTALS.get()
        yield _gauge(
            "payments_metrics_totals_up", "1 if the totals queries answered.", totals is not None
        )
        yield _gauge(
            "payments_metrics_totals_age_seconds",
            f"Age of the totals below (recomputed every {TOTALS_TTL_SECONDS:g} s).",
            age,
        )
        if totals is not None:
            yield from _totals_families(totals)


def _health_families(health: OutboxHealth):
    yield _by_status(
        "payments_outbox_backlog",
        "Merchant notifications still owed, by status (sum them for the backlog).",
        [str(status) for status in ACTIVE_LOG_STATUSES],
        health.backlog_by_status,
    )
    yield _gauge(
        "payments_outbox_oldest_due_age_seconds",
        "How long the longest-waiting due notification has been due (0: none is due).",
        health.oldest_due_age_seconds,
    )
    yield _gauge(
        "payments_notifications_failed",
        "Merchant notifications that used up their retries (LOG_FAILED) until redelivered.",
        health.failed_notifications,
    )
    yield _gauge(
        "payments_pending", "Payments waiting for the provider's report.", health.pending_payments
    )


def _totals_families(totals: PipelineTotals):
    yield _by_status(
        "payments_by_status",
        "Payments by status.",
        [str(status) for status in PaymentStatus],
        totals.payments_by_status,
    )
    yield _by_status(
        "payments_notifications",
        "Merchant notifications by status (LOG_SUCCESS: delivered, LOG_FAILED: gave up).",
        [str(status) for status in LogStatus],
        totals.notifications_by_status,
    )
    yield _gauge(
        "payments_notification_attempts",
        "Delivery attempts made over every merchant notification.",
        totals.notification_attempts,
    )
    yield _gauge(
        "payments_notifications_retried",
        "Merchant notifications that needed more than one attempt.",
        totals.notifications_retried,
    )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _by_status(
    name: str, documentation: str, statuses: list[str], counts: dict[str, int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    # Every known status appears, 0 included, so a series never vanishes from a graph.
    for status in sorted(set(statuses) | set(counts)):
        family.add_metric([status], counts.get(status, 0))
    return family
