"""Rotating a merchant's webhook secret without a failed verification. With `--keep-old`, every
notification for a day carries a signature with each secret (Standard Webhooks' space-separated
list), so a receiver verifying with the old secret and one already using the new one both accept
it; without it, or once the day is over, only the new secret signs."""

from datetime import timedelta

from sqlalchemy import update

from payments.domain.statuses import LogStatus, ProviderReport
from payments.extensions import db
from payments.models import Merchant, utcnow
from payments.services import merchants as merchant_service
from payments.services.notify import deliver_notification
from payments.services.provider_reports import apply_provider_report
from tests.support.factories import make_payment
from tests.support.fake_merchant import FakeMerchant
from tests.support.reports import notification_rows, point_merchant_at


def _rotate(app, merchant_id: int, keep_old: bool):
    with app.app_context():
        return merchant_service.rotate_webhook_secret(merchant_id, keep_old=keep_old)


def _verified_by(app, settings, merchant_id: int, receiver: FakeMerchant, order_id: int) -> bool:
    """Deliver a fresh notification to `receiver`; did its secret verify it?"""
    with app.app_context():
        point_merchant_at(merchant_id, receiver.url)
        payment = make_payment(merchant_id, order_id)
        apply_provider_report(payment.id, ProviderReport.FINISHED)
        log_id = notification_rows(payment.id)[0].id
        assert deliver_notification(settings, log_id) is LogStatus.SUCCESS
    (delivery,) = receiver.wait_for(1)
    receiver.reset()
    return delivery.verified


def test_keep_old_signs_with_both_secrets_for_a_day(app, settings, demo):
    merchant_id, old_secret = demo.merchants[0].id, demo.merchants[0].webhook_secret
    rotation = _rotate(app, merchant_id, keep_old=True)
    assert rotation.webhook_secret != old_secret
    assert timedelta(hours=23) < rotation.old_secret_signs_until - utcnow() <= timedelta(hours=24)

    with FakeMerchant(old_secret) as still_old, FakeMerchant(rotation.webhook_secret) as switched:
        assert _verified_by(app, settings, merchant_id, still_old, order_id=1)
        assert _verified_by(app, settings, merchant_id, switched, order_id=2)

        # The day is over: the old secret no longer signs.
        with app.app_context():
            db.session.execute(
                update(Merchant)
                .where(Merchant.id == merchant_id)
                .values(previous_webhook_secret_until=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
        assert not _verified_by(app, settings, merchant_id, still_old, order_id=3)
        assert _verified_by(app, settings, merchant_id, switched, order_id=4)


def test_a_plain_rotation_drops_the_old_secret_at_once(app, settings, demo):
    merchant_id = demo.merchants[1].id
    first = _rotate(app, merchant_id, keep_old=True)
    second = _rotate(app, merchant_id, keep_old=False)
    assert second.old_secret_signs_until is None
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        assert (merchant.previous_webhook_secret, merchant.previous_webhook_secret_until) == (
            None,
            None,
        )
    with FakeMerchant(first.webhook_secret) as previous, FakeMerchant(second.webhook_secret) as new:
        assert not _verified_by(app, settings, merchant_id, previous, order_id=5)
        assert _verified_by(app, settings, merchant_id, new, order_id=6)
