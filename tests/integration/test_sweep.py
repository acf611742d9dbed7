"""The sweep: expiry of pending payments, cleanup of payments that never got a link, the
idempotency purge, and claiming due notifications (sending the notify messages)."""

import threading
import time
from datetime import timedelta

import psycopg2
from sqlalchemy import select

from payments.domain.statuses import EventType, LogStatus, PaymentStatus
from payments.extensions import db
from payments.models import IdempotencyKey, Payment, UserSubscription, utcnow
from payments.services import sweep
from tests.support.factories import make_payment
from tests.support.fake_merchant import FakeMerchant
from tests.support.reports import notification_rows, point_merchant_at, timeline
from tests.support.worker import running_worker


def _status(payment_id):
    db.session.expire_all()
    return db.session.get(Payment, payment_id).status


def _used_tokens(merchant_id):
    db.session.expire_all()
    return db.session.scalar(
        select(UserSubscription.used_tokens).where(UserSubscription.merchant_id == merchant_id)
    )


def test_pending_payments_past_their_link_expire_with_a_notification(app, settings, demo):
    merchant_id = demo.merchants[0].id
    now = utcnow()
    with app.app_context():
        expired = make_payment(
            merchant_id, 1, expires_at=now - timedelta(seconds=1), request_id="create-req-1"
        ).id
        live = make_payment(merchant_id, 2, expires_at=now + timedelta(hours=1)).id
        paid = make_payment(
            merchant_id, 3, status=PaymentStatus.FINISHED, expires_at=now - timedelta(hours=1)
        ).id
        # No expires_at from the provider: PAYMENT_LINK_TTL_SECONDS applies.
        old = make_payment(
            merchant_id,
            4,
            created_at=now - timedelta(seconds=settings.payment_link_ttl_seconds + 5),
        ).id
        assert sweep.expire_payments(settings) == 2
        assert _status(expired) == PaymentStatus.EXPIRED
        assert _status(old) == PaymentStatus.EXPIRED
        assert _status(live) == PaymentStatus.PENDING
        assert _status(paid) == PaymentStatus.FINISHED
        events = [row.event_type for row in timeline(expired)]
        assert events == [EventType.PAYMENT_EXPIRED, EventType.MERCHANT_NOTIFICATION]
        (row,) = notification_rows(expired)
        assert (row.status, row.payload["type"]) == (LogStatus.PENDING, "payment.expired")
        assert row.request_id == "create-req-1"
        assert notification_rows(live) == []
        assert sweep.expire_payments(settings) == 0


def test_a_payment_locked_by_a_report_is_skipped_not_waited_for(app, settings, demo, database_url):
    with app.app_context():
        payment_id = make_payment(
            demo.merchants[0].id, 1, expires_at=utcnow() - timedelta(seconds=1)
        ).id
    holder = psycopg2.connect(database_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM payments WHERE id = %s FOR UPDATE", (payment_id,))
        started = time.monotonic()
        with app.app_context():
            assert sweep.expire_payments(settings) == 0
        assert time.monotonic() - started < 2
    finally:
        holder.rollback()
        holder.close()
    with app.app_context():
        assert sweep.expire_payments(settings) == 1


def test_linkless_payments_are_failed_and_their_token_given_back(app, settings, demo):
    merchant_id = demo.merchants[0].id
    stale = (
        utcnow()
        - timedelta(seconds=settings.provider_timeout_seconds)
        - sweep.ABANDON_MARGIN
        - timedelta(seconds=5)
    )
    with app.app_context():
        abandoned = make_payment(merchant_id, 1, payment_url=None, created_at=stale).id
        in_flight = make_payment(merchant_id, 2, payment_url=None).id
        recent = make_payment(
            merchant_id, 4, payment_url=None, created_at=stale + timedelta(seconds=10)
        ).id
        linked = make_payment(merchant_id, 3, created_at=stale).id
        db.session.execute(
            UserSubscription.__table__.update()
            .where(UserSubscription.merchant_id == merchant_id)
            .values(used_tokens=3)
        )
        db.session.commit()
        assert sweep.abandon_linkless_payments(settings) == 1
        assert _status(abandoned) == PaymentStatus.FAILED
        assert _status(in_flight) == PaymentStatus.PENDING  # its creation may still be running
        assert _status(recent) == PaymentStatus.PENDING  # within the margin
        assert _status(linked) == PaymentStatus.PENDING
        assert _used_tokens(merchant_id) == 2
        events = [row.event_type for row in timeline(abandoned)]
        assert events == [EventType.PAYMENT_ABANDONED, EventType.TOKEN_REFUNDED]
        assert notification_rows(abandoned) == []  # SPEC notifies failures the provider reports
        assert sweep.abandon_linkless_payments(settings) == 0
        assert _used_tokens(merchant_id) == 2


def test_idempotency_records_older_than_a_day_are_purged(app, demo):
    merchant_id = demo.merchants[0].id
    now = utcnow()
    with app.app_context():
        for key, age in (("old", timedelta(hours=25)), ("fresh", timedelta(hours=23))):
            db.session.add(
                IdempotencyKey(
                    merchant_id=merchant_id,
                    key=key,
                    request_hash="0" * 64,
                    state="completed",
                    created_at=now - age,
                )
            )
        db.session.commit()
        assert sweep.purge_idempotency_keys() == 1
        assert db.session.scalars(select(IdempotencyKey.key)).all() == ["fresh"]


def test_a_full_sweep_delivers_what_the_fast_path_missed(app, settings, demo):
    """A notification whose fast-path message was never sent (broker down at the time) is
    claimed by the sweep and delivered by the worker."""
    secret = demo.merchants[0].webhook_secret
    with FakeMerchant(secret) as merchant:
        with app.app_context():
            point_merchant_at(demo.merchants[0].id, merchant.url)
            payment_id = make_payment(
                demo.merchants[0].id, 1, expires_at=utcnow() - timedelta(seconds=1)
            ).id
        with running_worker(app):
            with app.app_context():
                report = sweep.run_sweep(settings)
            assert (report.expired, report.claimed, report.sent) == (1, 1, 1)
            (delivery,) = merchant.wait_for(1)
        assert delivery.verified
        assert delivery.payload["type"] == "payment.expired"
        assert delivery.payload["payment_id"] == payment_id


def test_concurrent_full_sweeps_are_safe(app, settings, demo):
    now = utcnow()
    with app.app_context():
        ids = [
            make_payment(demo.merchants[0].id, n, expires_at=now - timedelta(seconds=1)).id
            for n in range(1, 31)
        ]
    reports = []

    def run():
        with app.app_context():
            reports.append(sweep.run_sweep(settings))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.expired for r in reports) == 30
    assert sum(r.claimed for r in reports) == 30
    with app.app_context():
        assert len(notification_rows()) == 30
        assert {_status(payment_id) for payment_id in ids} == {PaymentStatus.EXPIRED}
