import pytest

from payments.config import DEV_WEBHOOK_SECRET, ConfigError, load_settings

PG = "postgresql://postgres@127.0.0.1:5432/payments"


def settings(**env):
    return load_settings(env_file=None, **env)


def test_defaults_are_the_embedded_default():
    s = settings()
    assert s.database_url.startswith("sqlite:///")
    assert s.database_url.endswith("payments.db")
    assert not s.is_production
    assert s.sandbox_enabled
    assert s.provider_url == "http://127.0.0.1:8000/sandbox"
    assert s.merchant_callback_url == "http://127.0.0.1:8000/sandbox/merchant/webhook"
    assert s.notify_retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert s.notify_lease_seconds == 3 * 10 + 5


def test_plain_postgresql_url_uses_psycopg2_and_database_url_alias_works():
    assert settings(DATABASE_URL=PG).database_url.startswith("postgresql+psycopg2://")
    assert settings(PAYMENTS_DB_URL="postgres://h/db").database_url == "postgresql+psycopg2://h/db"


def test_logs_db_on_another_database_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="same transaction"):
        settings(PAYMENTS_DB_URL=PG, LOGS_DB_URL="postgresql://postgres@127.0.0.1:5432/logs")


def test_logs_db_naming_the_same_database_is_accepted():
    s = settings(PAYMENTS_DB_URL=PG, LOGS_DB_URL="postgresql://other_user:pw@127.0.0.1/payments")
    assert s.logs_db_url


def test_dev_webhook_secret_is_refused_in_production():
    with pytest.raises(ConfigError, match="INTERNAL_WEBHOOK_SECRET"):
        settings(PAYMENTS_DB_URL=PG, RABBITMQ_URL="amqp://guest:guest@127.0.0.1/")
    s = settings(PAYMENTS_DB_URL=PG, RABBITMQ_URL="amqp://x/", INTERNAL_WEBHOOK_SECRET="s" * 32)
    assert s.is_production
    assert not s.sandbox_enabled
    assert DEV_WEBHOOK_SECRET not in s.internal_webhook_secret


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"NOTIFY_RETRY_SCHEDULE": "5,soon"}, "NOTIFY_RETRY_SCHEDULE"),
        ({"AUTH_MODE": "magic"}, "AUTH_MODE"),
        ({"PROVIDER_TIMEOUT_SECONDS": "-1"}, "PROVIDER_TIMEOUT_SECONDS"),
        ({"RATE_LIMIT_PER_MERCHANT": "lots"}, "RATE_LIMIT_PER_MERCHANT"),
        ({"PAYMENTS_DB_URL": "mysql://x/y"}, "PostgreSQL or SQLite"),
    ],
)
def test_bad_values_give_one_line_errors(env, fragment):
    with pytest.raises(ConfigError) as error:
        settings(**env)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_explicit_lease_and_schedule():
    s = settings(NOTIFY_LEASE_SECONDS="7", NOTIFY_RETRY_SCHEDULE="1, 2,3")
    assert s.notify_lease_seconds == 7
    assert s.notify_retry_schedule == (1, 2, 3)
