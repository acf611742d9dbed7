"""Delivery of one notification to a real HTTP merchant on loopback: Standard Webhooks signing,
2xx / 410 / 5xx / timeout / Retry-After, the retry schedule, leases, and the actor itself."""

import base64
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from payments.domain.statuses import LogStatus, ProviderReport
from payments.extensions import db
from payments.models import Merchant, PaymentLog, utcnow
from payments.request_id import reset_request_id, set_request_id
from payments.services import outbox
from payments.services.delivery import post_notification
from payments.services.notify import deliver_notification
from payments.services.provider_reports import apply_provider_report
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support.factories import make_payment
from tests.support.fake_merchant import FakeMerchant
from tests.support.http_server import LoopbackServer, Reply
from tests.support.processes import free_port
from tests.support.reports import (
    expire_lease,
    notification_rows,
    point_merchant_at,
    post_report,
)
from tests.support.worker import running_worker


@pytest.fixture
def fast(settings):
    """Compressed timings: attempts = 3 (first + 2 steps), 0.5 s per try."""
    return settings.model_copy(
        update={"notify_retry_schedule_setting": "0,1", "notify_timeout_seconds": 0.5}
    )


@pytest.fixture
def merchant_secret(demo):
    return demo.merchants[0].webhook_secret


def _finished_notification(app, demo, url, order_id=1) -> int:
    """A payment reported finished; returns its notification row id."""
    with app.app_context():
        point_merchant_at(demo.merchants[0].id, url)
        payment = make_payment(demo.merchants[0].id, order_id)
        token = set_request_id("req-42")
        try:
            apply_provider_report(payment.id, ProviderReport.FINISHED)
        finally:
            reset_request_id(token)
        return notification_rows(payment.id)[0].id


def _row(log_id) -> PaymentLog:
    db.session.expire_all()
    return db.session.get(PaymentLog, log_id)


def _make_due(log_id) -> None:
    db.session.execute(
        update(PaymentLog).where(PaymentLog.id == log_id).values(next_retry_at=utcnow())
    )
    db.session.commit()


def test_2xx_is_delivered_once_signed_with_the_merchant_secret(app, demo, fast, merchant_secret):
    with FakeMerchant(merchant_secret, replies=[204]) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.SUCCESS
            row = _row(log_id)
            assert (row.status, row.attempts, row.last_response_code) == ("LOG_SUCCESS", 1, 204)
            assert row.lease_token is None
            assert row.next_retry_at is None
            assert "delivered" in row.message
            webhook_id, payload = row.webhook_id, row.payload
            # Done: another message for it is a no-op.
            assert deliver_notification(fast, log_id) is None
        (delivery,) = merchant.deliveries()
    assert delivery.verified
    assert delivery.webhook_id == webhook_id
    assert delivery.payload == payload
    assert delivery.payload["type"] == "payment.finished"
    assert delivery.request_id == "req-42"


def test_5xx_is_retried_quickly_then_on_schedule_with_a_stable_webhook_id(
    app, demo, fast, merchant_secret
):
    with FakeMerchant(merchant_secret, replies=[500, 502, 503, 200]) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.RETRYING
            row = _row(log_id)
            assert (row.attempts, row.last_response_code, row.last_error) == (1, 503, "HTTP 503")
            assert row.next_retry_at <= utcnow()  # first step of "0,1" is 0 s
            assert deliver_notification(fast, log_id) is LogStatus.SUCCESS
            assert _row(log_id).attempts == 2
            webhook_id = row.webhook_id
        deliveries = merchant.deliveries()
    assert len(deliveries) == 4  # three quick tries, then the scheduled attempt
    assert all(d.verified for d in deliveries)
    assert {d.webhook_id for d in deliveries} == {webhook_id}


def test_failing_merchant_exhausts_the_schedule_then_log_failed(app, demo, fast, merchant_secret):
    with FakeMerchant(merchant_secret, replies=[500]) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.RETRYING
            assert deliver_notification(fast, log_id) is LogStatus.RETRYING
            wait = (_row(log_id).next_retry_at - utcnow()).total_seconds()
            assert 0.7 <= wait <= 1.1  # second step: 1 s ± 10 %
            assert deliver_notification(fast, log_id) is None  # not due yet
            _make_due(log_id)
            assert deliver_notification(fast, log_id) is LogStatus.FAILED
            row = _row(log_id)
            assert (row.status, row.attempts) == ("LOG_FAILED", 3)
            assert "failed after 3 attempts" in row.message
            _make_due(log_id)
            assert deliver_notification(fast, log_id) is None  # failed stays failed
        assert len(merchant.deliveries()) == 9


def test_410_stops_at_once(app, demo, fast, merchant_secret):
    with FakeMerchant(merchant_secret, replies=[410]) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.FAILED
            row = _row(log_id)
            assert (row.status, row.last_response_code, row.attempts) == ("LOG_FAILED", 410, 1)
        assert len(merchant.deliveries()) == 1


def test_timeout_is_retried(app, demo, fast, merchant_secret):
    with FakeMerchant(merchant_secret, replies=[200], delay=1.0) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.RETRYING
            row = _row(log_id)
            assert row.last_response_code is None
            assert row.last_error.startswith("timeout")
        assert len(merchant.deliveries()) == 3


def test_unreachable_merchant_is_retried(app, demo, fast):
    log_id = _finished_notification(app, demo, f"http://127.0.0.1:{free_port()}/hook")
    with app.app_context():
        assert deliver_notification(fast, log_id) is LogStatus.RETRYING
        assert _row(log_id).last_error.startswith("connection error")


@pytest.mark.parametrize(
    ("reply", "at_least"),
    [
        (Reply(status=429, headers={"Retry-After": "120"}), 119),
        (Reply(status=503, headers={"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}), 86000),
    ],
)
def test_retry_after_longer_than_the_step_is_honoured(
    app, demo, fast, merchant_secret, reply, at_least
):
    with FakeMerchant(merchant_secret, replies=[reply]) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.RETRYING
            wait = (_row(log_id).next_retry_at - utcnow()).total_seconds()
            assert at_least <= wait <= 86400
        # A long pause is left to the schedule: no quick retries hammering the merchant.
        assert len(merchant.deliveries()) == 1


def test_redirects_are_not_followed(app, demo, fast, merchant_secret):
    reply = Reply(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    with FakeMerchant(merchant_secret, replies=[reply]) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            assert deliver_notification(fast, log_id) is LogStatus.RETRYING
            assert _row(log_id).last_error == "HTTP 302"
        assert len(merchant.deliveries()) == 1


def test_a_taken_over_lease_cannot_write_its_outcome(app, demo, fast, merchant_secret):
    log_id = _finished_notification(app, demo, "http://127.0.0.1:9/unused")
    with app.app_context():
        stale = outbox.start_attempt(fast, log_id, None)
        assert stale is not None
        # The worker stalls past its lease; a sweep reclaims the row.
        expire_lease(log_id)
        (lease,) = outbox.claim_due(fast, 10)
        assert lease.token != stale.lease_token
        written = outbox.finish_attempt(
            stale, LogStatus.SUCCESS, "late", response_code=200, error=None, next_retry_at=None
        )
        assert written is False
        row = _row(log_id)
        assert (row.status, row.lease_token) == ("LOG_PROCESSING", lease.token)
        # And the stale holder cannot renew it either.
        assert outbox.start_attempt(fast, log_id, stale.lease_token) is None


def test_worker_lost_during_the_last_attempt_fails_without_calling(
    app, demo, fast, merchant_secret
):
    with FakeMerchant(merchant_secret) as merchant:
        log_id = _finished_notification(app, demo, merchant.url)
        with app.app_context():
            past = utcnow() - timedelta(seconds=1)
            db.session.execute(
                update(PaymentLog)
                .where(PaymentLog.id == log_id)
                .values(
                    status=LogStatus.PROCESSING,
                    attempts=3,
                    lease_token="lost-worker",
                    lease_expires_at=past,
                    next_retry_at=past,
                )
            )
            db.session.commit()
            assert deliver_notification(fast, log_id) is LogStatus.FAILED
            assert "lost" in _row(log_id).last_error
        assert merchant.deliveries() == []


def test_a_broken_merchant_secret_is_a_visible_retry_not_a_crash(app, demo, fast):
    log_id = _finished_notification(app, demo, "http://127.0.0.1:9/unused")
    with app.app_context():
        db.session.execute(update(Merchant).values(webhook_secret="whsec_"))
        db.session.commit()
        assert deliver_notification(fast, log_id) is LogStatus.RETRYING
        assert _row(log_id).last_error.startswith("could not send")


def test_the_fast_path_delivers_through_the_real_worker(app, client, demo, merchant_secret):
    with FakeMerchant(merchant_secret) as merchant, running_worker(app):
        with app.app_context():
            point_merchant_at(demo.merchants[0].id, merchant.url)
            payment_id = make_payment(demo.merchants[0].id, 7).id
        response = post_report(
            client,
            TEST_WEBHOOK_SECRET,
            payment_id,
            "finished",
            headers={"X-Request-Id": "fast-path-1"},
        )
        assert response.status_code == 200
        (delivery,) = merchant.wait_for(1)
        assert delivery.verified
        assert delivery.request_id == "fast-path-1"
        assert delivery.payload["payment_id"] == payment_id
        with app.app_context():
            deadline = utcnow() + timedelta(seconds=10)
            while notification_rows(payment_id)[0].status != "LOG_SUCCESS":
                assert utcnow() < deadline, notification_rows(payment_id)[0].status
                time.sleep(0.05)
            assert notification_rows(payment_id)[0].attempts == 1


def test_credentials_in_the_callback_url_are_sent_as_basic_auth(app, demo):
    with LoopbackServer(lambda request: Reply(204)) as server:
        host = server.url.removeprefix("http://")
        result = post_notification(
            f"http://hook%40user:p%3Ass@{host}/hooks",
            demo.merchants[0].webhook_secret,
            "msg_basic_auth",
            {"type": "payment.finished"},
            None,
            2,
        )
        (request,) = server.received()
    assert result.status_code == 204
    assert request.path == "/hooks"
    expected = base64.b64encode(b"hook@user:p:ss").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
