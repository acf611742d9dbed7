"""Shared fixtures. Every run works on its own PostgreSQL database, RabbitMQ queues and Redis
key prefix, and removes them afterwards; the shared servers are left as they were found."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support import databases
from tests.support.rabbitmq import delete_queues
from tests.support.redis_keys import delete_keys

RUN_ID = uuid.uuid4().hex[:8]
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
REDIS_URL = "redis://127.0.0.1:6379/0"
TEST_WEBHOOK_SECRET = "test-internal-webhook-secret-" + RUN_ID


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = databases.new_database_name()
    url = databases.create_database(name)
    yield url
    databases.drop_database(name)


@pytest.fixture(scope="session")
def settings_env(database_url, tmp_path_factory) -> dict[str, str]:
    """SPEC variables for this run: the test process and any process it starts use them."""
    return {
        "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        "PAYMENTS_DB_URL": database_url,
        "RABBITMQ_URL": RABBITMQ_URL,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"payments-test-{RUN_ID}:",
        "QUEUE_NAME": f"payments-test-{RUN_ID}.merchant",
        "INTERNAL_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "SANDBOX_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def settings(settings_env):
    from payments.config import load_settings

    return load_settings(env_file=None, **settings_env)


@pytest.fixture(scope="session")
def app(settings):
    """The app on the run's database, migrated with the real migrations."""
    from flask_migrate import upgrade

    from payments import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    with application.app_context():
        upgrade()
    yield application
    delete_queues(RABBITMQ_URL, settings.queue_name, settings.sweep_queue_name)
    delete_keys(REDIS_URL, settings.redis_key_prefix)
    from payments.extensions import db

    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request) -> Iterator[None]:
    """Tests that use the database start and end with empty tables."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from payments.extensions import db
    from payments.models import Base

    with app.app_context():
        db.session.remove()
        names = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def app_context(app):
    with app.app_context() as context:
        yield context


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo(app):
    """The seeded demo data; `demo.merchants[i].api_key` authenticates merchant i."""
    from payments.services.seeding import seed_demo_data
    from seeds.demo import MERCHANTS, PLANS, PROVIDERS

    with app.app_context():
        return seed_demo_data(PLANS, MERCHANTS, PROVIDERS)
