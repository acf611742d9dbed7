"""The sweep's batch message: rows leased together under one token, each lease renewed as its
own attempt starts, rows whose lease was taken over skipped, and the rows there is no time left
for handed on to the real worker as a new message."""

import pytest
from sqlalchemy import update

from payments.domain.statuses import LogStatus, ProviderReport
from payments.extensions import db
from payments.models import PaymentLog, utcnow
from payments.services import outbox
from payments.services.notify import deliver_leased_batch
from payments.services.provider_reports import apply_provider_report
from tests.support.factories import make_payment
from tests.support.fake_merchant import FakeMerchant
from tests.support.reports import expire_lease, notification_rows, point_merchant_at
from tests.support.worker import running_worker


@pytest.fixture
def fast(settings):
    return settings.model_copy(
        update={"notify_retry_schedule_setting": "0,1", "notify_timeout_seconds": 0.5}
    )


def _due_notifications(app, demo, url, count) -> list[int]:
    """`count` payments reported finished, their notifications due for the sweep at once."""
    with app.app_context():
        point_merchant_at(demo.merchants[0].id, url)
        for order_id in range(1, count + 1):
            payment = make_payment(demo.merchants[0].id, order_id)
            apply_provider_report(payment.id, ProviderReport.FINISHED)
        db.session.execute(update(PaymentLog).values(next_retry_at=utcnow()))
        db.session.commit()
        return [row.id for row in notification_rows()]


def _statuses(log_ids) -> dict[int, str]:
    return {row.id: row.status for row in notification_rows() if row.id in log_ids}


def test_a_batch_delivers_each_leased_row_once(app, demo, fast):
    with FakeMerchant(demo.merchants[0].webhook_secret) as merchant:
        ids = _due_notifications(app, demo, merchant.url, 3)
        with app.app_context():
            leases = outbox.claim_due(fast, 10)
            assert len({lease.token for lease in leases}) == 1  # one claim, one token
            token = leases[0].token
            assert deliver_leased_batch(fast, ids, token, time_limit=60) == 3
            assert set(_statuses(ids).values()) == {LogStatus.SUCCESS}
            assert all(row.attempts == 1 for row in notification_rows())
            # The same message again (a redelivered one) does nothing.
            assert deliver_leased_batch(fast, ids, token, time_limit=60) == 3
        deliveries = merchant.deliveries()
    assert len(deliveries) == 3
    assert all(d.verified for d in deliveries)


def test_a_row_whose_lease_was_taken_over_is_skipped(app, demo, fast):
    with FakeMerchant(demo.merchants[0].webhook_secret) as merchant:
        first, second = _due_notifications(app, demo, merchant.url, 2)
        with app.app_context():
            (old, _) = outbox.claim_due(fast, 10)
            # The first row's lease runs out and another sweep takes it over.
            expire_lease(first)
            (taken,) = outbox.claim_due(fast, 10)
            assert taken.log_id == first
            deliver_leased_batch(fast, [first, second], old.token, time_limit=60)
            rows = {row.id: row for row in notification_rows()}
            assert (rows[first].status, rows[first].lease_token) == (
                LogStatus.PROCESSING,
                taken.token,
            )
            assert rows[second].status == LogStatus.SUCCESS
        assert [d.payload["payment_id"] for d in merchant.deliveries()] == [rows[second].payment_id]


def test_rows_without_time_left_go_on_as_a_new_message(app, demo, fast):
    with FakeMerchant(demo.merchants[0].webhook_secret) as merchant:
        ids = _due_notifications(app, demo, merchant.url, 3)
        with running_worker(app):
            with app.app_context():
                token = outbox.claim_due(fast, 10)[0].token
                # No time for a second attempt within this limit: one here, two handed on.
                assert deliver_leased_batch(fast, ids, token, time_limit=0) == 1
            merchant.wait_for(3)
        with app.app_context():
            assert set(_statuses(ids).values()) == {LogStatus.SUCCESS}
    assert len(merchant.deliveries()) == 3
