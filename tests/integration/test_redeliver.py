"""POST /api/v1/payments/{id}/notifications/redeliver and `flask outbox stats|recover`."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from payments.domain.statuses import LogStatus, PaymentStatus
from payments.extensions import db
from payments.models import PaymentLog, utcnow
from payments.services import outbox
from tests.support.factories import make_payment
from tests.support.fake_merchant import FakeMerchant
from tests.support.reports import notification_rows, point_merchant_at
from tests.support.worker import running_worker


def _url(payment_id):
    return f"/api/v1/payments/{payment_id}/notifications/redeliver"


def _notified_payment(merchant_id, order_id, status=LogStatus.FAILED, **row_values) -> int:
    payment = make_payment(merchant_id, order_id, status=PaymentStatus.FINISHED)
    row = outbox.add_notification(payment, utcnow())
    db.session.commit()
    db.session.execute(
        update(PaymentLog)
        .where(PaymentLog.id == row.id)
        .values(status=status, attempts=8, next_retry_at=None, **row_values)
    )
    db.session.commit()
    return payment.id


def _auth(merchant):
    return {"X-API-Key": merchant.api_key}


def test_redeliver_requeues_a_failed_notification_and_it_is_delivered(app, client, demo):
    merchant = demo.merchants[0]
    with FakeMerchant(merchant.webhook_secret) as inbox, running_worker(app):
        with app.app_context():
            point_merchant_at(merchant.id, inbox.url)
            payment_id = _notified_payment(merchant.id, 1)
        response = client.post(_url(payment_id), headers=_auth(merchant))
        assert response.status_code == 202
        assert response.get_json() == {"queued": 1}
        (delivery,) = inbox.wait_for(1)
        assert delivery.verified
        assert delivery.payload["payment_id"] == payment_id
    with app.app_context():
        (row,) = notification_rows(payment_id)
        assert row.status == LogStatus.SUCCESS
        assert row.attempts == 1  # the schedule started again


def test_redeliver_resets_the_schedule(app, client, demo):
    merchant = demo.merchants[0]
    with app.app_context():
        payment_id = _notified_payment(merchant.id, 1, status=LogStatus.SUCCESS)
    # A message may be picked up by no worker here: the row itself shows the reset.
    assert client.post(_url(payment_id), headers=_auth(merchant)).get_json() == {"queued": 1}
    with app.app_context():
        (row,) = notification_rows(payment_id)
        assert (row.status, row.attempts, row.lease_token) == (LogStatus.PENDING, 0, None)
        assert row.next_retry_at <= utcnow()


def test_a_notification_in_flight_is_left_to_finish(app, client, demo):
    merchant = demo.merchants[0]
    live = utcnow() + timedelta(seconds=30)
    with app.app_context():
        payment_id = _notified_payment(
            merchant.id,
            1,
            status=LogStatus.PROCESSING,
            lease_token="busy",
            lease_expires_at=live,
        )
    assert client.post(_url(payment_id), headers=_auth(merchant)).get_json() == {"queued": 0}
    with app.app_context():
        assert notification_rows(payment_id)[0].lease_token == "busy"


def test_a_pending_payment_has_nothing_to_redeliver(app, client, demo):
    with app.app_context():
        payment_id = make_payment(demo.merchants[0].id, 1).id
    response = client.post(_url(payment_id), headers=_auth(demo.merchants[0]))
    assert (response.status_code, response.get_json()) == (202, {"queued": 0})


def test_another_merchants_payment_is_404_like_an_unknown_one(app, client, demo):
    with app.app_context():
        payment_id = _notified_payment(demo.merchants[0].id, 1)
    other = client.post(_url(payment_id), headers=_auth(demo.merchants[1]))
    unknown = client.post(_url(payment_id + 1000), headers=_auth(demo.merchants[1]))
    huge = client.post(_url(10**30), headers=_auth(demo.merchants[1]))
    for response in (other, unknown, huge):
        assert response.status_code == 404
        body = response.get_json()
        body.pop("message")
        assert body == {"code": 404, "status": "Not Found", "error": "payment_not_found"}
    with app.app_context():
        assert notification_rows(payment_id)[0].status == LogStatus.FAILED


@pytest.mark.parametrize("path", ["/api/v1/payments/abc/notifications/redeliver"])
def test_a_non_numeric_id_is_a_json_404(client, demo, path):
    response = client.post(path, headers=_auth(demo.merchants[0]))
    assert response.status_code == 404
    assert response.is_json


def test_redeliver_needs_a_merchant(client, demo):
    response = client.post(_url(1))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["outbox", *args])


def test_outbox_stats(app, demo):
    with app.app_context():
        _notified_payment(demo.merchants[0].id, 1)
        _notified_payment(demo.merchants[0].id, 2, status=LogStatus.SUCCESS)
        past = utcnow() - timedelta(seconds=90)
        _notified_payment(demo.merchants[0].id, 3, status=LogStatus.RETRYING)
        db.session.execute(
            update(PaymentLog)
            .where(PaymentLog.status == LogStatus.RETRYING)
            .values(next_retry_at=past)
        )
        db.session.commit()
    result = _cli(app, "stats", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["by_status"] == {
        "LOG_PENDING": 0,
        "LOG_PROCESSING": 0,
        "LOG_RETRYING": 1,
        "LOG_SUCCESS": 1,
        "LOG_FAILED": 1,
    }
    assert stats["due"] == 1
    assert 89 <= stats["oldest_due_seconds"] < 120
    text = _cli(app, "stats")
    assert text.exit_code == 0
    assert "LOG_FAILED" in text.output
    assert "oldest due age" in text.output


def test_outbox_recover_requeues_recent_failures_only(app, demo):
    with app.app_context():
        recent = _notified_payment(demo.merchants[0].id, 1)
        old = _notified_payment(demo.merchants[0].id, 2)
        db.session.execute(
            update(PaymentLog)
            .where(PaymentLog.payment_id == old)
            .values(updated_at=utcnow() - timedelta(hours=3))
        )
        db.session.commit()
    result = _cli(app, "recover", "--since", "2h")
    assert result.exit_code == 0, result.output
    assert "queued 1" in result.output
    with app.app_context():
        assert notification_rows(recent)[0].status == LogStatus.PENDING
        assert notification_rows(recent)[0].attempts == 0
        assert notification_rows(old)[0].status == LogStatus.FAILED


@pytest.mark.parametrize("since", ["2 weeks", "h", "-1h", "1.5h", ""])
def test_outbox_recover_refuses_a_bad_duration(app, demo, since):
    result = _cli(app, "recover", "--since", since)
    assert result.exit_code == 2
    assert "duration" in result.output
