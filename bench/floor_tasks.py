"""The floor of the notify actor (bench/floor.py has the webhook that wakes it): take the lease,
sign and POST the notification, write the outcome; one autocommit statement each, nothing else.
Run as `dramatiq bench.floor_tasks` (the service worker's defaults: a process per CPU, 8 threads)
on the run's RabbitMQ, under a queue of its own."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import dramatiq
import urllib3
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import create_engine, make_url, text
from standardwebhooks.webhooks import Webhook

from payments.fast_json import dumps_text
from payments.messaging import MessageEncoder
from payments.prepared import enable as enable_prepared_statements
from payments.prepared import prepared

QUEUE = os.environ.get("QUEUE_NAME", "payments-bench") + ".floor"
LEASE_SECONDS = 60

dramatiq.set_broker(
    RabbitmqBroker(
        url=os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
        confirm_delivery=False,
    )
)
dramatiq.set_encoder(MessageEncoder())  # messages written by orjson, as the service's


def engine(**options):
    """An engine on the run's database through psycopg2, with prepared statements, as the
    service's."""
    url = make_url(os.environ.get("PAYMENTS_DB_URL", "postgresql://postgres@127.0.0.1/postgres"))
    # SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://.
    created = create_engine(url.set(drivername="postgresql+psycopg2"), **options)
    enable_prepared_statements(created)
    return created


def statement(label: str, sql: str):
    """A statement PostgreSQL plans once per connection, as the service's hot statements
    (payments/prepared.py)."""
    return prepared(text(sql), label)


_engine = engine(pool_size=8, max_overflow=8, isolation_level="AUTOCOMMIT")
_http = urllib3.PoolManager(maxsize=16, block=False, retries=False)
_MERCHANT_URL = os.environ.get("MERCHANT_CALLBACK_URL", "http://127.0.0.1:1")

_LEASE = statement(
    "floor_lease",
    "UPDATE payment_logs AS l SET status = 'LOG_PROCESSING', lease_token = :token,"
    " lease_expires_at = :lease_end, next_retry_at = :lease_end, attempts = l.attempts + 1,"
    " updated_at = :now FROM payments AS p JOIN merchants AS m ON m.id = p.merchant_id"
    " WHERE l.id = :id AND l.status = 'LOG_PENDING' AND p.id = l.payment_id"
    " RETURNING l.payload, l.webhook_id, m.callback_url, m.webhook_secret",
)
_FINISH = statement(
    "floor_finish",
    "UPDATE payment_logs SET status = 'LOG_SUCCESS', last_response_code = :code,"
    " lease_token = NULL, lease_expires_at = NULL, next_retry_at = NULL, updated_at = :now"
    " WHERE id = :id AND lease_token = :token",
)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def floor_notify(log_id: int) -> None:
    now, token = datetime.now(UTC), str(uuid.uuid4())
    lease_end = now + timedelta(seconds=LEASE_SECONDS)
    with _engine.connect() as connection:
        job = connection.execute(
            _LEASE, {"id": log_id, "token": token, "lease_end": lease_end, "now": now}
        ).one_or_none()
    if job is None:
        return
    body = dumps_text(job.payload)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": job.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(job.webhook_secret).sign(job.webhook_id, now, body),
    }
    answer = _http.request(
        "POST", job.callback_url or _MERCHANT_URL, body=body.encode(), headers=headers, timeout=5.0
    )
    with _engine.connect() as connection:
        connection.execute(
            _FINISH,
            {"code": answer.status, "now": datetime.now(UTC), "id": log_id, "token": token},
        )
