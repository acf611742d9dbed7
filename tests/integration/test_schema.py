"""The migrations build the schema the models describe, on PostgreSQL and on SQLite, and the
database itself refuses what would lose money."""

from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from payments.extensions import db
from payments.models import Base, Payment, UserSubscription
from tests.support import databases


def _differences(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_models_and_migrations_agree_on_postgresql(app):
    with app.app_context():
        assert _differences(db.engine) == []


def test_upgrade_is_a_noop_when_current(app):
    with app.app_context():
        before = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        upgrade()
        after = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert before == after


def test_upgrade_builds_an_empty_sqlite_database(tmp_path, settings):
    from payments import create_app
    from payments.config import load_settings

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    # The same Redis as the other tests: the Redis client is process-wide, and an app made
    # without REDIS_URL would leave it unset for the tests that run after this one.
    app = create_app(
        load_settings(env_file=None, PAYMENTS_DB_URL=url, REDIS_URL=settings.redis_url)
    )
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert _differences(db.engine) == []
    assert {"merchants", "merchant_api_keys", "subscriptions", "user_subscriptions"} <= tables
    assert {"providers", "payments", "payment_logs", "idempotency_keys"} <= tables


def test_money_columns_are_numeric_18_8(app):
    with app.app_context():
        columns = {c["name"]: c["type"] for c in inspect(db.engine).get_columns("payments")}
    assert (columns["amount"].precision, columns["amount"].scale) == (18, 8)
    assert (columns["price"].precision, columns["price"].scale) == (18, 8)


def _make_payment(demo, order_id, status="PAYMENT_PENDING"):
    merchant = demo.merchants[0]
    subscription = db.session.query(UserSubscription).filter_by(merchant_id=merchant.id).one()
    payment = Payment(
        merchant_id=merchant.id,
        user_subscription_id=subscription.id,
        provider_id=1,
        order_id=order_id,
        amount=Decimal("1.5"),
        price=Decimal("1.5"),
        status=status,
    )
    db.session.add(payment)
    db.session.commit()
    return payment


def test_one_open_payment_per_order_is_enforced_by_the_database(app, demo):
    with app.app_context():
        _make_payment(demo, 7)
        with pytest.raises(IntegrityError):
            _make_payment(demo, 7)
        db.session.rollback()
        # Failed and expired payments leave the order free to be paid again.
        _make_payment(demo, 8, "PAYMENT_FAILED")
        _make_payment(demo, 8, "PAYMENT_EXPIRED")
        _make_payment(demo, 8)
        assert db.session.query(Payment).filter_by(order_id=8).count() == 3


def test_used_tokens_can_never_go_negative(app, demo):
    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(text("UPDATE user_subscriptions SET used_tokens = -1"))
        db.session.rollback()


def test_every_run_database_is_dropped_by_its_owner():
    name = databases.new_database_name("payments_probe")
    url = databases.create_database(name)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT current_database()")).scalar() == name
    engine.dispose()
    databases.drop_database(name)
    with pytest.raises(Exception, match=name):
        create_engine(url.replace("postgresql://", "postgresql+psycopg2://")).connect()
