"""The shared building blocks of merchant endpoints: authentication and the token quota."""

import threading

import pytest
from sqlalchemy import select, update

from payments.errors import MerchantMismatch, Unauthorized
from payments.extensions import db, redis_store
from payments.models import MerchantApiKey, Subscription, UserSubscription
from payments.services.auth import authenticate
from payments.services.quota import refund_token, spend_token


def test_api_key_authenticates_its_merchant_and_is_cached_by_hash_only(app, settings, demo):
    merchant = demo.merchants[1]
    with app.app_context():
        assert authenticate(settings, merchant.api_key, None) == merchant.id
        assert authenticate(settings, merchant.api_key, str(merchant.id)) == merchant.id
        cached = [k.decode() for k in redis_store.client.scan_iter(settings.redis_key_prefix + "*")]
    assert cached
    assert all(merchant.api_key not in key for key in cached)


@pytest.mark.parametrize("key", [None, "", "pk_unknown", "x" * 10_000])
def test_missing_or_unknown_key_is_unauthorized(app, settings, demo, key):
    with app.app_context(), pytest.raises(Unauthorized):
        authenticate(settings, key, None)


def test_merchant_id_header_must_match_the_key(app, settings, demo):
    with app.app_context(), pytest.raises(MerchantMismatch):
        authenticate(settings, demo.merchants[0].api_key, str(demo.merchants[1].id))


def test_revoked_key_stops_working_once_forgotten(app, settings, demo):
    from payments.domain.credentials import hash_api_key
    from payments.services.auth import forget_cached_key

    key = demo.merchants[0].api_key
    with app.app_context():
        authenticate(settings, key, None)
        db.session.execute(update(MerchantApiKey).values(status="inactive"))
        db.session.commit()
        forget_cached_key(settings, hash_api_key(key))
        with pytest.raises(Unauthorized):
            authenticate(settings, key, None)


@pytest.mark.parametrize("header", [None, "", "abc", "1.5", "-1", "99999999", "\u0661"])
def test_gateway_mode_needs_a_known_integer_merchant_id(app, settings, demo, header):
    gateway = settings.model_copy(update={"auth_mode": "gateway"})
    with app.app_context(), pytest.raises(Unauthorized):
        authenticate(gateway, None, header)


def test_gateway_mode_trusts_the_header(app, settings, demo):
    gateway = settings.model_copy(update={"auth_mode": "gateway"})
    with app.app_context():
        assert authenticate(gateway, None, str(demo.merchants[2].id)) == demo.merchants[2].id


def _subscription(merchant_id):
    return db.session.scalar(
        select(UserSubscription).where(UserSubscription.merchant_id == merchant_id)
    )


def test_concurrent_spending_never_exceeds_the_plan(app, demo):
    merchant_id = demo.merchants[0].id
    with app.app_context():
        subscription = _subscription(merchant_id)
        db.session.execute(update(Subscription).values(tokens=25))
        db.session.commit()
        subscription_id = subscription.id
    spent = []

    def spend():
        with app.app_context():
            for _ in range(10):
                if spend_token(subscription_id):
                    spent.append(1)
                db.session.commit()

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert _subscription(merchant_id).used_tokens == 25
    assert len(spent) == 25


def test_refund_gives_a_token_back_but_never_below_zero(app, demo):
    with app.app_context():
        subscription_id = _subscription(demo.merchants[0].id).id
        assert spend_token(subscription_id)
        refund_token(subscription_id)
        refund_token(subscription_id)
        db.session.commit()
        assert _subscription(demo.merchants[0].id).used_tokens == 0
