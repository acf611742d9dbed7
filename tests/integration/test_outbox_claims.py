"""Claiming due notifications: concurrent sweeps never overlap, leases expire and are reclaimed,
and the one indexed range query finds every kind of due row."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from payments.domain.statuses import LogStatus, PaymentStatus
from payments.extensions import db
from payments.models import Payment, PaymentLog, utcnow
from payments.services import outbox, outbox_sql
from tests.support.factories import make_payment
from tests.support.plans import plan_of
from tests.support.reports import expire_lease, notification_rows


def _notifications(merchant_id, count, first_order=1) -> list[int]:
    """`count` finished payments with a pending notification each; their row ids."""
    now = utcnow()
    for order_id in range(first_order, first_order + count):
        payment = make_payment(merchant_id, order_id, status=PaymentStatus.FINISHED)
        outbox.add_notification(payment, now)
    db.session.commit()
    return [row.id for row in notification_rows()]


def _set(log_id, **values):
    db.session.execute(update(PaymentLog).where(PaymentLog.id == log_id).values(**values))
    db.session.commit()


def test_two_sweeps_claiming_at_once_never_overlap(app, settings, demo):
    with app.app_context():
        ids = _notifications(demo.merchants[0].id, 120)
    claims: list[list[outbox.Lease]] = []
    barrier = threading.Barrier(4)

    def sweep():
        with app.app_context():
            barrier.wait()
            mine = []
            while batch := outbox.claim_due(settings, 7):
                mine.extend(batch)
            claims.append(mine)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [lease.log_id for batch in claims for lease in batch]
    assert sorted(claimed) == sorted(ids)  # every row once, none twice
    assert sum(1 for batch in claims if batch) >= 2  # the claiming really was concurrent
    with app.app_context():
        rows = notification_rows()
        assert {row.status for row in rows} == {LogStatus.PROCESSING}
        tokens = {lease.log_id: lease.token for batch in claims for lease in batch}
        assert all(row.lease_token == tokens[row.id] for row in rows)
        assert all(row.next_retry_at == row.lease_expires_at for row in rows)


def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out(app, settings, demo):
    with app.app_context():
        (log_id,) = _notifications(demo.merchants[0].id, 1)
        (first,) = outbox.claim_due(settings, 10)
        assert outbox.claim_due(settings, 10) == []
        lease_end = notification_rows()[0].lease_expires_at
        expected = utcnow() + timedelta(seconds=settings.notify_lease_seconds)
        assert abs((lease_end - expected).total_seconds()) < 5
        # The worker died: once the lease is over, the row is due again.
        expire_lease(log_id)
        (second,) = outbox.claim_due(settings, 10)
        assert second.log_id == log_id
        assert second.token != first.token


def test_fast_path_claim_respects_a_live_lease(app, settings, demo):
    with app.app_context():
        (log_id,) = _notifications(demo.merchants[0].id, 1)
        outbox.claim_due(settings, 10)
        assert outbox.start_attempt(settings, log_id, None) is None
        assert outbox.start_attempt(settings, log_id, "not-the-token") is None


@pytest.mark.parametrize(
    ("status", "offset", "due"),
    [
        (LogStatus.PENDING, -1, True),
        (LogStatus.RETRYING, -1, True),
        (LogStatus.RETRYING, +60, False),
        (LogStatus.PROCESSING, -1, True),  # lease over
        (LogStatus.PROCESSING, +60, False),  # lease live
        (LogStatus.SUCCESS, -1, False),
        (LogStatus.FAILED, -1, False),
    ],
)
def test_what_is_due(app, settings, demo, status, offset, due):
    with app.app_context():
        (log_id,) = _notifications(demo.merchants[0].id, 1)
        when = utcnow() + timedelta(seconds=offset)
        _set(log_id, status=status, next_retry_at=when, lease_expires_at=when)
        assert [lease.log_id for lease in outbox.claim_due(settings, 10)] == (
            [log_id] if due else []
        )


def test_the_due_query_can_use_the_partial_index(app, settings, demo):
    """`ix_payment_logs_due` covers the claim query (PostgreSQL proves the predicate)."""
    with app.app_context():
        _notifications(demo.merchants[0].id, 3)
        query = (
            db.select(PaymentLog.id)
            .where(
                PaymentLog.event_type == outbox.NOTIFICATION,
                PaymentLog.status.in_(
                    [LogStatus.PENDING, LogStatus.RETRYING, LogStatus.PROCESSING]
                ),
                PaymentLog.next_retry_at <= utcnow(),
            )
            .order_by(PaymentLog.next_retry_at)
            .limit(10)
        )
        plan = plan_of(query, seqscan=False)
    assert "ix_payment_logs_due" in plan, plan


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
@pytest.mark.parametrize(
    "statement", ["TAKE_DUE", "RENEW_LEASE", "TAKE_DUE_JOINED", "RENEW_LEASE_JOINED", "FINISH"]
)
def test_a_lease_finds_its_row_by_primary_key_whatever_the_backlog(app, demo, statement, generic):
    """Each attempt's lease and outcome look up one row by id. The due index must not be a
    candidate: its statistics lag a backlog (the table is analyzed now and then, not on every
    insert), and a planner that believes it small walks every due row on every lease."""
    with app.app_context():
        _notifications(demo.merchants[0].id, 300, first_order=5_000)  # a backlog, not analyzed
        now = utcnow()
        params = {
            "log_id": 1,
            "token": "token",
            "now": now,
            "lease_end": now,
            "status": LogStatus.SUCCESS,
            "message": "",
            "response_code": 200,
            "error": None,
            "next_retry_at": None,
        }
        plan = plan_of(getattr(outbox_sql, statement), params, generic=generic)
    # A generic plan (of a prepared statement) shows the parameter instead of the value.
    assert re.search(r"Index Cond: \(id = (1|\$\d+)\)", plan), plan
    assert "ix_payment_logs_due" not in plan, plan


def test_notification_payload_is_the_spec_shape(app, demo):
    with app.app_context():
        payment_id = make_payment(demo.merchants[1].id, 77, amount="0.10000000").id
        payment = db.session.get(Payment, payment_id)
        payment.status = PaymentStatus.EXPIRED
        at = utcnow()
        payload = outbox.notification_payload(payment, at)
        db.session.rollback()
    assert payload == {
        "type": "payment.expired",
        "payment_id": payment_id,
        "order_id": 77,
        "merchant_id": demo.merchants[1].id,
        "status": "PAYMENT_EXPIRED",
        "amount": "0.10",
        "price": "0.10",
        "currency": "USD",
        "timestamp": at.isoformat(),
    }
