"""Payment creation on SQLite, the embedded default of `make run`: it has no data-modifying
CTEs, so creation's two writes run step by step in a transaction each
(create_payment._insert_step_by_step, provider_link._store_link). The same answers, timeline,
tokens and keys as on PostgreSQL."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, update

from payments.extensions import db
from payments.models import IdempotencyKey, Payment, Subscription
from tests.support.fake_provider import point_provider_at
from tests.support.payments_api import (
    URL,
    assert_error,
    auth,
    create_body,
    events_of,
    payment_count,
    used_tokens,
)

CREATED_TIMELINE = [
    "EVENT_PAYMENT_CREATED",
    "EVENT_PROVIDER_REQUEST_SENT",
    "EVENT_PROVIDER_PAYMENT_ACCEPTED",
]


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory, settings_env):
    from payments import create_app
    from payments.config import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'payments.db'}"
    application = create_app(
        load_settings(env_file=None, **{**settings_env, "PAYMENTS_DB_URL": url})
    )
    application.config["TESTING"] = True
    with application.app_context():
        upgrade()
        assert db.engine.dialect.name == "sqlite"
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def on_sqlite(sqlite_app, provider_server):
    """The demo data on a fresh SQLite database, its provider on loopback."""
    from payments.models import Base
    from payments.services.seeding import seed_demo_data
    from seeds.demo import MERCHANTS, PLANS, PROVIDERS

    with sqlite_app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        demo = seed_demo_data(PLANS, MERCHANTS, PROVIDERS)
    point_provider_at(sqlite_app, provider_server.url)
    provider_server.reset()
    return sqlite_app, sqlite_app.test_client(), demo.merchants[0], provider_server


def _keyed(merchant, key: str = "key-1") -> dict[str, str]:
    return auth(merchant, **{"Idempotency-Key": key})


def test_creation_writes_payment_token_and_timeline(on_sqlite):
    app, client, merchant, provider = on_sqlite
    created = client.post(URL, json=create_body(order_id=1), headers=auth(merchant))
    assert created.status_code == 201, created.get_json()
    payment_id = created.get_json()["payment_id"]
    assert created.get_json()["payment_url"] == f"https://pay.example.test/checkout/{payment_id}"
    assert events_of(app, payment_id) == CREATED_TIMELINE
    assert used_tokens(app, merchant.id) == 1
    with app.app_context():
        assert db.session.get(Payment, payment_id).expires_at is not None

    again = client.post(URL, json=create_body(order_id=1), headers=auth(merchant))
    assert again.status_code == 200
    assert again.get_json()["payment_id"] == payment_id
    assert used_tokens(app, merchant.id) == 1
    assert len(provider.calls()) == 1


def test_keyed_creation_links_completes_and_replays_the_key(on_sqlite):
    app, client, merchant, provider = on_sqlite
    first = client.post(URL, json=create_body(order_id=2), headers=_keyed(merchant))
    assert first.status_code == 201
    replay = client.post(URL, json=create_body(order_id=2), headers=_keyed(merchant))
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    with app.app_context():
        key = db.session.scalar(select(IdempotencyKey))
        assert (key.state, key.payment_id) == ("completed", first.get_json()["payment_id"])
        assert key.response_body == first.get_json()
    assert len(provider.calls()) == 1


def test_no_token_left_is_402_and_leaves_nothing(on_sqlite):
    app, client, merchant, provider = on_sqlite
    with app.app_context():
        db.session.execute(update(Subscription).values(tokens=0))
        db.session.commit()
    refused = client.post(URL, json=create_body(order_id=3), headers=_keyed(merchant))
    assert_error(refused, 402, "subscription_exhausted")
    assert payment_count(app) == 0
    assert used_tokens(app, merchant.id) == 0
    with app.app_context():
        assert db.session.scalar(select(IdempotencyKey)) is None
    assert provider.calls() == []


def test_provider_failure_fails_the_payment_and_refunds_its_token(on_sqlite):
    app, client, merchant, provider = on_sqlite
    provider.mode = "error"
    failed = client.post(URL, json=create_body(order_id=4), headers=auth(merchant))
    assert_error(failed, 502, "provider_error")
    payment_id = failed.get_json()["payment_id"]
    assert used_tokens(app, merchant.id) == 0
    assert events_of(app, payment_id)[-1] == "EVENT_TOKEN_REFUNDED"
