"""The one Settings object: read from the environment (and `.env`), validated once at start.

Nothing else in the code base reads `os.environ`; it asks for `current_settings()` or receives a
Settings instance. Every validation failure becomes one line a human can act on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
DEV_WEBHOOK_SECRET = "dev-internal-webhook-secret-do-not-use-in-production"  # noqa: S105
MAX_BODY_BYTES = 64 * 1024


class ConfigError(Exception):
    """The configuration is wrong; the message is one line that says what to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # Where the embedded SQLite database and the demo credentials live.
    instance_path: Path = Field(default=INSTANCE_DIR, validation_alias="INSTANCE_PATH")
    payments_db_url: str | None = Field(
        default=None, validation_alias=AliasChoices("PAYMENTS_DB_URL", "DATABASE_URL")
    )
    logs_db_url: str | None = Field(default=None, validation_alias="LOGS_DB_URL")
    rabbitmq_url: str | None = Field(default=None, validation_alias="RABBITMQ_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    # Namespaces every Redis key (locks, caches, rate limits) so several deployments or test
    # runs can share one Redis.
    redis_key_prefix: str = Field(default="payments:", validation_alias="REDIS_KEY_PREFIX")
    queue_name: str = Field(default="payments.merchant", validation_alias="QUEUE_NAME")
    # Where the service itself is reachable; the built-in sandbox provider and merchant inbox
    # live under it, so they are the defaults of PROVIDER_URL and MERCHANT_CALLBACK_URL.
    service_url: str = Field(default="http://127.0.0.1:8000", validation_alias="SERVICE_URL")
    provider_url_setting: str | None = Field(default=None, validation_alias="PROVIDER_URL")
    merchant_callback_url_setting: str | None = Field(
        default=None, validation_alias="MERCHANT_CALLBACK_URL"
    )
    internal_webhook_secret: str = Field(
        default=DEV_WEBHOOK_SECRET, validation_alias="INTERNAL_WEBHOOK_SECRET", min_length=16
    )
    auth_mode: Literal["api_key", "gateway"] = Field(
        default="api_key", validation_alias="AUTH_MODE"
    )
    provider_timeout_seconds: float = Field(
        default=3.0, gt=0, le=60, validation_alias="PROVIDER_TIMEOUT_SECONDS"
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, validation_alias="NOTIFY_TIMEOUT_SECONDS"
    )
    notify_lease_seconds_setting: float | None = Field(
        default=None, gt=0, validation_alias="NOTIFY_LEASE_SECONDS"
    )
    notify_retry_schedule_setting: str = Field(
        default="5,300,1800,7200,18000,36000,36000", validation_alias="NOTIFY_RETRY_SCHEDULE"
    )
    sweep_interval_seconds: float = Field(
        default=2.0, gt=0, le=3600, validation_alias="SWEEP_INTERVAL_SECONDS"
    )
    payment_link_ttl_seconds: int = Field(
        default=86400, gt=0, validation_alias="PAYMENT_LINK_TTL_SECONDS"
    )
    rate_limit_per_merchant: str | None = Field(
        default=None, validation_alias="RATE_LIMIT_PER_MERCHANT"
    )
    sandbox_enabled_setting: bool | None = Field(default=None, validation_alias="SANDBOX_ENABLED")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )
    # Connections per process (see payments/database.py and docs/operations.md).
    db_pool_size: int = Field(default=10, ge=1, le=500, validation_alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(default=10, ge=0, le=500, validation_alias="DB_MAX_OVERFLOW")
    # The hot statements as server-side prepared statements (payments/prepared.py); off behind a
    # pooler that does not keep a session's prepared statements (PgBouncer, transaction mode).
    db_prepared_statements: bool = Field(default=True, validation_alias="DB_PREPARED_STATEMENTS")
    # Set by gunicorn.conf.py: each gunicorn worker writes its request metrics there and /metrics
    # sums them (prometheus_client's multiprocess mode). Unset: one process, in memory.
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )
    # `dramatiq tasks` exports dramatiq's own Prometheus metrics on this port when it is set;
    # dramatiq reads the same (lower-case) variable from the environment itself.
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="dramatiq_prom_port"
    )

    @field_validator(
        "payments_db_url",
        "logs_db_url",
        "rabbitmq_url",
        "redis_url",
        "provider_url_setting",
        "merchant_callback_url_setting",
        "rate_limit_per_merchant",
        "prometheus_multiproc_dir",
        "worker_metrics_port",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("merchant_callback_url_setting")
    @classmethod
    def _callback_is_http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme.lower() not in ("http", "https"):
            raise ValueError("MERCHANT_CALLBACK_URL must be an http:// or https:// URL")
        return value

    @field_validator("notify_retry_schedule_setting")
    @classmethod
    def _schedule_is_positive_seconds(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        db = _parse_db_url(self.database_url, "PAYMENTS_DB_URL")
        if db.get_backend_name() not in ("postgresql", "sqlite"):
            raise ValueError("PAYMENTS_DB_URL must name a PostgreSQL or SQLite database")
        if self.logs_db_url and not _same_database(self.database_url, self.logs_db_url):
            raise ValueError(
                "LOGS_DB_URL names a different database than PAYMENTS_DB_URL; the timeline and "
                "outbox must commit in the same transaction as the payment, so unset LOGS_DB_URL "
                "or point it at the same database"
            )
        if self.is_production and self.internal_webhook_secret == DEV_WEBHOOK_SECRET:
            raise ValueError(
                "INTERNAL_WEBHOOK_SECRET is the development value; set a real secret in production"
            )
        if self.rate_limit_per_merchant:
            from limits import parse

            try:
                parse(self.rate_limit_per_merchant)
            except ValueError:
                raise ValueError(
                    "RATE_LIMIT_PER_MERCHANT must look like '50/second' or '1000 per minute'"
                ) from None
        return self

    # --- derived values -------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        if self.payments_db_url:
            return _normalise_postgres_scheme(self.payments_db_url)
        return f"sqlite:///{self.instance_path.resolve() / 'payments.db'}"

    @property
    def is_postgres(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "postgresql"

    @property
    def is_production(self) -> bool:
        return self.is_postgres and bool(self.rabbitmq_url)

    @property
    def sandbox_enabled(self) -> bool:
        if self.sandbox_enabled_setting is None:
            return not self.is_production
        return self.sandbox_enabled_setting

    @property
    def provider_url(self) -> str:
        return (self.provider_url_setting or f"{self.service_url}/sandbox").rstrip("/")

    @property
    def merchant_callback_url(self) -> str:
        return self.merchant_callback_url_setting or f"{self.service_url}/sandbox/merchant/webhook"

    @property
    def notify_lease_seconds(self) -> float:
        if self.notify_lease_seconds_setting is not None:
            return self.notify_lease_seconds_setting
        return 3 * self.notify_timeout_seconds + 5

    @property
    def notify_retry_schedule(self) -> tuple[int, ...]:
        return parse_schedule(self.notify_retry_schedule_setting)

    @property
    def sweep_queue_name(self) -> str:
        return f"{self.queue_name}.sweep"


@lru_cache(maxsize=16)  # read on every delivery attempt; the setting never changes
def parse_schedule(raw: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            "NOTIFY_RETRY_SCHEDULE must be comma-separated whole seconds, e.g. 5,300,1800"
        ) from None
    if any(step < 0 for step in steps):
        raise ValueError("NOTIFY_RETRY_SCHEDULE steps must not be negative")
    return steps


def _normalise_postgres_scheme(url: str) -> str:
    # `postgres://` (Heroku style) and a plain `postgresql://` both mean psycopg2 here;
    # SQLAlchemy 2.1 would otherwise pick psycopg 3, which is not installed.
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain) :]
    return url


def _parse_db_url(url: str, name: str):
    try:
        return make_url(url)
    except ArgumentError:
        raise ValueError(f"{name} is not a database URL: {url!r}") from None


def _same_database(first: str, second: str) -> bool:
    a = _parse_db_url(first, "PAYMENTS_DB_URL")
    b = _parse_db_url(_normalise_postgres_scheme(second), "LOGS_DB_URL")
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return Path(a.database or "").resolve() == Path(b.database or "").resolve()
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


def load_settings(env_file: str | None = ".env", **overrides) -> Settings:
    """Read the settings; any problem becomes a ConfigError with one readable line.

    `overrides` take SPEC's variable names (PAYMENTS_DB_URL=...); tests pass env_file=None so a
    developer's `.env` cannot leak into them.
    """
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(message if message.startswith(field) else f"{field}: {message}")
        raise ConfigError("; ".join(problems)) from None
