"""RATE_LIMIT_PER_MERCHANT: per authenticated merchant, 429 with Retry-After, fail open."""

import logging
import uuid

import pytest
from limits import parse

from payments import create_app
from payments.api.ratelimit import MerchantRateLimit
from payments.extensions import db
from tests.support.fake_provider import down_url
from tests.support.payments_api import URL, assert_error, auth


def limited_app(settings, limit, **changes):
    # Its own key prefix (inside the run's) so no other test's counts leak in.
    prefix = f"{settings.redis_key_prefix}{uuid.uuid4().hex[:6]}:"
    update = {"rate_limit_per_merchant": limit, "redis_key_prefix": prefix, **changes}
    application = create_app(settings.model_copy(update=update))
    application.config["TESTING"] = True
    return application


@pytest.fixture
def dispose():
    apps = []
    yield apps.append
    for application in apps:
        with application.app_context():
            db.engine.dispose()


def test_merchant_over_its_limit_gets_429_with_retry_after(app, settings, demo, dispose):
    limited = limited_app(settings, "3/minute")
    dispose(limited)
    client = limited.test_client()
    a, b = auth(demo.merchants[0]), auth(demo.merchants[1])
    assert [client.get(URL, headers=a).status_code for _ in range(3)] == [200] * 3
    refused = client.get(URL, headers=a)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Creating counts against the same budget; other merchants have their own.
    assert_error(client.post(URL, json={}, headers=a), 429, "rate_limited")
    assert client.get(URL, headers=b).status_code == 200


def test_unauthenticated_requests_do_not_spend_a_merchants_budget(app, settings, demo, dispose):
    limited = limited_app(settings, "2/minute")
    dispose(limited)
    client = limited.test_client()
    for _ in range(5):
        assert_error(client.get(URL, headers={"X-API-Key": "pk_bad"}), 401, "unauthorized")
    assert client.get(URL, headers=auth(demo.merchants[0])).status_code == 200


def test_without_redis_the_limit_is_counted_in_process(app, settings, demo, dispose):
    limited = limited_app(settings, "1/minute", redis_url=None)
    dispose(limited)
    client = limited.test_client()
    try:
        assert client.get(URL, headers=auth(demo.merchants[0])).status_code == 200
        assert_error(client.get(URL, headers=auth(demo.merchants[0])), 429, "rate_limited")
    finally:
        # The Redis client is process-wide; give the other tests theirs back.
        from payments.extensions import redis_store

        redis_store.init_app(app, settings.redis_url)


def test_redis_down_lets_requests_through_and_logs(app, settings, demo, dispose, caplog):
    limited = limited_app(settings, "1/minute")
    dispose(limited)
    dead = settings.model_copy(update={"redis_url": down_url().replace("http", "redis")})
    limited.extensions["payments_rate_limit"] = MerchantRateLimit(dead, parse("1/minute"))
    client = limited.test_client()
    with caplog.at_level(logging.WARNING, logger="payments.api.ratelimit"):
        statuses = [client.get(URL, headers=auth(demo.merchants[0])).status_code for _ in range(3)]
    assert statuses == [200] * 3
    assert any("rate limit storage unavailable" in r.getMessage() for r in caplog.records)


def test_off_when_unset(client, demo):
    statuses = {client.get(URL, headers=auth(demo.merchants[0])).status_code for _ in range(30)}
    assert statuses == {200}


def test_unusable_storage_url_disables_the_limit_instead_of_failing(app, settings, demo, dispose):
    limited = limited_app(settings, "1/minute")
    dispose(limited)
    limited.extensions["payments_settings"] = limited.extensions["payments_settings"].model_copy(
        update={"redis_url": "nosuchscheme://nowhere"}
    )
    client = limited.test_client()
    statuses = [client.get(URL, headers=auth(demo.merchants[0])).status_code for _ in range(2)]
    assert statuses == [200, 200]
