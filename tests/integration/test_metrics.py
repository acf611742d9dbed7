"""GET /metrics: request series by URL rule and status, and the pipeline read from the database
at scrape time. (Aggregation across gunicorn workers: tests/e2e/test_api_process.py.)"""

import time
from datetime import timedelta

import psycopg2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from payments.domain.statuses import EventType, LogStatus, PaymentStatus
from payments.extensions import db
from payments.metrics import TOTALS
from payments.models import PaymentLog, utcnow
from payments.services.metrics import STATEMENT_TIMEOUT_MS
from tests.support.factories import make_payment


@pytest.fixture(autouse=True)
def _fresh_totals():
    """The whole-table totals are cached per process; each test starts without them."""
    TOTALS.clear()
    yield
    TOTALS.clear()


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_url_rule_and_status_never_by_raw_path(client):
    before = scrape(client)
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert client.get("/no/such/path-4242").status_code == 404
    assert client.delete("/api/v1/payments/ping").status_code == 405
    after = scrape(client)

    asset = {"method": "GET", "route": "/docs/assets/<path:filename>"}
    for name, labels in [
        ("payments_http_requests_total", {**asset, "status": "200"}),
        ("payments_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}),
        (
            "payments_http_requests_total",
            {"method": "DELETE", "route": "unmatched", "status": "405"},
        ),
        ("payments_http_request_duration_seconds_count", asset),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, (name, labels)
    assert value(after, "payments_http_request_duration_seconds_bucket", **asset, le="+Inf") >= 1
    assert not any("4242" in str(labels) for _, labels in after)


def test_pipeline_gauges_come_from_the_database(app, client, demo):
    merchant_id = demo.merchants[0].id
    now = utcnow()
    with app.app_context():
        make_payment(merchant_id, 1)
        make_payment(merchant_id, 2)
        # (payment status, notification status, attempts, next try relative to now)
        rows = [
            (PaymentStatus.FINISHED, LogStatus.SUCCESS, 2, None),
            (PaymentStatus.FAILED, LogStatus.FAILED, 8, None),
            (PaymentStatus.EXPIRED, LogStatus.RETRYING, 3, timedelta(seconds=-120)),
            (PaymentStatus.FINISHED, LogStatus.PENDING, 0, timedelta(seconds=60)),
            # A claimed row whose lease ran out 30 s ago: due again.
            (PaymentStatus.FINISHED, LogStatus.PROCESSING, 1, timedelta(seconds=-30)),
        ]
        for order_id, (payment_status, log_status, attempts, due_in) in enumerate(rows, 10):
            payment = make_payment(merchant_id, order_id, status=payment_status)
            db.session.add(
                PaymentLog(
                    payment_id=payment.id,
                    event_type=EventType.MERCHANT_NOTIFICATION,
                    status=log_status,
                    attempts=attempts,
                    next_retry_at=now + due_in if due_in is not None else None,
                )
            )
        db.session.commit()

    samples = scrape(client)

    assert value(samples, "payments_metrics_database_up") == 1
    assert value(samples, "payments_metrics_totals_up") == 1
    assert {
        status: value(samples, "payments_by_status", status=status) for status in PaymentStatus
    } == {
        PaymentStatus.PENDING: 2,
        PaymentStatus.FINISHED: 3,
        PaymentStatus.FAILED: 1,
        PaymentStatus.EXPIRED: 1,
    }
    assert {
        status: value(samples, "payments_notifications", status=status) for status in LogStatus
    } == dict.fromkeys(LogStatus, 1)
    assert value(samples, "payments_notification_attempts") == 2 + 8 + 3 + 0 + 1
    assert value(samples, "payments_notifications_retried") == 3
    # The health figures, read on every scrape.
    assert {
        status: value(samples, "payments_outbox_backlog", status=status)
        for status in (LogStatus.PENDING, LogStatus.RETRYING, LogStatus.PROCESSING)
    } == {LogStatus.PENDING: 1, LogStatus.RETRYING: 1, LogStatus.PROCESSING: 1}
    assert value(samples, "payments_notifications_failed") == 1
    assert value(samples, "payments_pending") == 2
    assert value(samples, "payments_outbox_oldest_due_age_seconds") == pytest.approx(120, abs=10)


def test_health_figures_are_fresh_on_every_scrape_totals_follow_within_their_ttl(app, client, demo):
    merchant_id = demo.merchants[0].id
    first = scrape(client)
    with app.app_context():
        make_payment(merchant_id, 1)
    second = scrape(client)
    assert value(second, "payments_pending") == value(first, "payments_pending") + 1
    assert value(second, "payments_by_status", status="PAYMENT_PENDING") == value(
        first, "payments_by_status", status="PAYMENT_PENDING"
    )
    assert 0 <= value(second, "payments_metrics_totals_age_seconds") < TOTALS.ttl
    TOTALS.clear()  # what the TTL running out does
    third = scrape(client)
    assert (
        value(third, "payments_by_status", status="PAYMENT_PENDING")
        == value(first, "payments_by_status", status="PAYMENT_PENDING") + 1
    )


def test_empty_database_reports_zeros_not_missing_series(app, client):
    samples = scrape(client)
    assert value(samples, "payments_metrics_database_up") == 1
    assert ("payments_outbox_backlog", (("status", "LOG_PENDING"),)) in samples
    assert ("payments_by_status", (("status", "PAYMENT_PENDING"),)) in samples
    assert value(samples, "payments_outbox_oldest_due_age_seconds") == 0


def test_metrics_needs_no_auth_and_stays_out_of_the_openapi_document(client):
    assert client.get("/metrics").status_code == 200
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]


def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")


def test_a_stuck_database_cannot_hold_up_or_fail_a_scrape(app, client, database_url):
    """Another transaction holds the payments table: each read gives up after its statement
    timeout and reports *_up 0, and the request series are still served."""
    locker = psycopg2.connect(database_url)
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE payments IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        samples = scrape(client)
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    assert value(samples, "payments_metrics_database_up") == 0
    assert value(samples, "payments_metrics_totals_up") == 0
    assert ("payments_outbox_backlog", (("status", "LOG_PENDING"),)) not in samples
    # Health and totals: two reads, each cut at the timeout.
    assert 2 * STATEMENT_TIMEOUT_MS / 1000 <= elapsed < 2 * STATEMENT_TIMEOUT_MS / 1000 + 3
    assert any(name == "payments_http_requests_total" for name, _ in samples)
    TOTALS.clear()
    recovered = scrape(client)
    assert value(recovered, "payments_metrics_database_up") == 1
    assert value(recovered, "payments_metrics_totals_up") == 1
