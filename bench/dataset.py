"""Rows written straight into PostgreSQL: the read data sets (`INSERT ... SELECT
generate_series`, then ANALYZE), the pending payments the pipeline finishes, and the notifications
the sweep must rescue. Going around the API keeps loading fast and the measured part honest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2

# Final statuses only: the sweep looks at pending payments, and bulk rows must not give it work.
_BULK_PAYMENTS = """
INSERT INTO payments (merchant_id, user_subscription_id, provider_id, order_id, amount, price,
                      currency, status, payment_url, expires_at, created_at, updated_at)
SELECT %(merchant)s, sub.id, prov.id, %(first_order)s + g, 10.50 + g %% 100, 10.50 + g %% 100,
       'USD',
       CASE WHEN g %% 20 < 16 THEN 'PAYMENT_FINISHED'
            WHEN g %% 20 < 19 THEN 'PAYMENT_FAILED'
            ELSE 'PAYMENT_EXPIRED' END,
       'https://pay.bench.invalid/' || g, now() + interval '1 day',
       now() - (%(count)s - g) * interval '1 second', now() - (%(count)s - g) * interval '1 second'
FROM generate_series(1, %(count)s) AS g,
     (SELECT id FROM user_subscriptions WHERE merchant_id = %(merchant)s ORDER BY id LIMIT 1) sub,
     (SELECT id FROM providers WHERE alias = 'stripe') prov
"""

_PENDING_PAYMENTS = """
INSERT INTO payments (merchant_id, user_subscription_id, provider_id, order_id, amount, price,
                      currency, status, payment_url, expires_at)
SELECT %(merchant)s, sub.id, prov.id, %(first_order)s + g, 10.50, 10.50, 'USD',
       'PAYMENT_PENDING', 'https://pay.bench.invalid/p' || g, now() + interval '1 day'
FROM generate_series(1, %(count)s) AS g,
     (SELECT id FROM user_subscriptions WHERE merchant_id = %(merchant)s ORDER BY id LIMIT 1) sub,
     (SELECT id FROM providers WHERE alias = 'stripe') prov
RETURNING id
"""


@dataclass(frozen=True)
class IdRange:
    low: int
    high: int
    count: int


@contextmanager
def cursor_on(dsn: str) -> Iterator:
    """An autocommit cursor (VACUUM refuses to run in a transaction block), closed after."""
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def wait_until_settled(dsn: str, timeout: float = 30) -> None:
    """Wait until no payment was added for a second. A load generator stops at its deadline,
    but the requests already inside the service finish later; their ids must not interleave
    with the next bulk load's (a `show` of a random id in that range would find a stranger's
    payment and answer 404)."""
    deadline, previous = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        with cursor_on(dsn) as cursor:
            cursor.execute("SELECT count(*) FROM payments")
            (count,) = cursor.fetchone()
        if count == previous:
            return
        previous = count
        time.sleep(1)


def bulk_payments(dsn: str, merchant_id: int, count: int, first_order: int) -> IdRange:
    """`count` finished/failed/expired payments of the merchant, oldest first, then VACUUM
    ANALYZE: the state autovacuum keeps a table in that grew over months (statistics, and a
    visibility map so index-only scans stay index-only). This machine's PostgreSQL runs with
    autovacuum off, so without it every count would visit the heap, which production's would
    not; doing it now also keeps autovacuum from starting in the middle of a measurement.
    A CHECKPOINT then writes the loaded pages out, so the first read measured after a big load
    does not share the disk with the checkpointer flushing a million fresh rows."""
    with cursor_on(dsn) as cursor:
        cursor.execute(
            _BULK_PAYMENTS, {"merchant": merchant_id, "count": count, "first_order": first_order}
        )
        cursor.execute("VACUUM (ANALYZE) payments")
        cursor.execute("CHECKPOINT")
        cursor.execute(
            "SELECT min(id), max(id), count(*) FROM payments WHERE merchant_id = %s",
            (merchant_id,),
        )
        low, high, total = cursor.fetchone()
    return IdRange(low, high, total)


def pending_payments(dsn: str, merchant_id: int, count: int, first_order: int) -> list[int]:
    with cursor_on(dsn) as cursor:
        cursor.execute(
            _PENDING_PAYMENTS,
            {"merchant": merchant_id, "count": count, "first_order": first_order},
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("ANALYZE payments")
    return ids


def notification_created_at(dsn: str, payment_ids: list[int], event_type: str) -> dict:
    """payment_id -> unix time the notification row was written (its transaction's commit)."""
    with cursor_on(dsn) as cursor:
        cursor.execute(
            "SELECT payment_id, extract(epoch FROM created_at)::float8 FROM payment_logs "
            "WHERE event_type = %s AND payment_id = ANY(%s)",
            (event_type, payment_ids),
        )
        return dict(cursor.fetchall())


# As the provider webhook's transaction leaves them (payload = the body of SPEC section 5, kept
# on the row), minus the message to the broker that never went out.
_STRANDED = """
WITH finished AS (
    INSERT INTO payments (merchant_id, user_subscription_id, provider_id, order_id, amount,
                          price, currency, status, payment_url, expires_at)
    SELECT %(merchant)s, sub.id, prov.id, %(first_order)s + g, 10.50, 10.50, 'USD',
           'PAYMENT_FINISHED', 'https://pay.bench.invalid/s' || g, now() + interval '1 day'
    FROM generate_series(1, %(count)s) AS g,
         (SELECT id FROM user_subscriptions WHERE merchant_id = %(merchant)s
          ORDER BY id LIMIT 1) sub,
         (SELECT id FROM providers WHERE alias = 'stripe') prov
    RETURNING id, order_id, merchant_id
)
INSERT INTO payment_logs (payment_id, event_type, status, message, payload, attempts,
                          next_retry_at, webhook_id, created_at, updated_at)
SELECT id, %(event_type)s, %(log_status)s, 'payment.finished queued for the merchant',
       jsonb_build_object(
           'type', 'payment.finished', 'payment_id', id, 'order_id', order_id,
           'merchant_id', merchant_id, 'status', 'PAYMENT_FINISHED', 'amount', '10.50',
           'price', '10.50', 'currency', 'USD', 'timestamp', to_json(now())
       ),
       0, now(), 'msg_' || md5(random()::text || id::text), now(), now()
FROM finished
RETURNING payment_id
"""


def stranded_notifications(
    dsn: str, merchant_id: int, count: int, first_order: int, event_type: str, log_status: str
) -> list[int]:
    """`count` finished payments whose notifications sit in the outbox, committed at once."""
    with cursor_on(dsn) as cursor:
        cursor.execute(
            _STRANDED,
            {
                "merchant": merchant_id,
                "count": count,
                "first_order": first_order,
                "event_type": event_type,
                "log_status": log_status,
            },
        )
        return [row[0] for row in cursor.fetchall()]
