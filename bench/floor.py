"""The stack's floor for show, create and the notification pipeline: the least work the contract
needs, on the same fixed libraries (Flask, SQLAlchemy, psycopg2, redis, urllib3, dramatiq) and
the same gunicorn settings, with nothing else: no validation, no error handling, no idempotency,
no logging, no metrics.

Served by the baseline's gunicorn (bench/baseline_app.py) on the bench's database, Redis,
RabbitMQ and fakes. It answers the question a missed target raises: could any implementation of this
design on this stack meet it on this machine? A floor below the target says no; a floor above it
puts a number on what the service's own layers cost.

  GET  /floor/payments/<id>   the API key's merchant from Redis (the database on a miss), then
                              the payment with its provider's alias: one SELECT
  POST /floor/webhook         the provider's signed report: HMAC check, the payment read,
                              then one statement in autocommit (its status, its timeline row
                              and its notification: a CTE), then a message to
                              bench/floor_tasks.py's actor, which leases the row, signs and
                              POSTs the notification, writes the outcome
  POST /floor/payments        provider and plan (one SELECT), one statement (the token, the
                              payment row, its timeline row), the provider's link over HTTP,
                              a second statement (the link and its timeline row): the service's
                              creation without its duplicate-order check (the unique index
                              still holds) and without idempotency keys

Every statement is a server-side prepared statement, planned once per connection, and every
JSON document is written by orjson, as the service's (payments/prepared.py, fast_json.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import redis
import urllib3
from flask import Blueprint, Response, request

from bench.floor_tasks import engine, floor_notify, statement
from payments.fast_json import dumps, dumps_text

blueprint = Blueprint("floor", __name__, url_prefix="/floor")

# Every statement commits by itself, as the service's (payments/database.py): no BEGIN, COMMIT
# or ROLLBACK round trips.
_autocommit = engine(pool_size=8, max_overflow=8, isolation_level="AUTOCOMMIT")
_SECRET = os.environ.get("INTERNAL_WEBHOOK_SECRET", "").encode()
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_http = urllib3.PoolManager(maxsize=16, block=False, retries=False)
_PROVIDER = os.environ.get("PROVIDER_URL", "http://127.0.0.1:1").rstrip("/") + "/payment-links"
_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "") + "floor:auth:"

_MERCHANT_OF_KEY = statement(
    "floor_merchant_of_key",
    "SELECT k.merchant_id FROM merchant_api_keys AS k JOIN merchants AS m ON m.id = k.merchant_id"
    " WHERE k.key_hash = :key_hash AND k.status = 'active' AND m.status = 'active'",
)
_SHOW = statement(
    "floor_show",
    "SELECT p.id, p.order_id, p.status, p.amount, p.price, p.currency, p.payment_url,"
    " p.expires_at, p.created_at, p.updated_at, pr.alias FROM payments AS p"
    " JOIN providers AS pr ON pr.id = p.provider_id WHERE p.id = :id AND p.merchant_id = :merchant",
)
_TARGET = statement(
    "floor_target",
    "SELECT pr.id, s.id AS user_subscription_id FROM providers AS pr"
    " JOIN user_subscriptions AS s ON s.merchant_id = :merchant AND s.subscription_id = :plan"
    " AND s.status = 'active' WHERE pr.alias = :alias",
)
# The token, the payment and its timeline row in one statement; then the link and its timeline
# row in another: the service's creation, one autocommit statement per write.
_OPEN_PAYMENT = statement(
    "floor_open_payment",
    "WITH spent AS (UPDATE user_subscriptions SET used_tokens = used_tokens + 1, updated_at = :now"
    " WHERE id = :subscription"
    " AND used_tokens < (SELECT tokens FROM subscriptions WHERE id = subscription_id)"
    " RETURNING id),"
    " payment AS (INSERT INTO payments (merchant_id, user_subscription_id, provider_id, order_id,"
    " amount, price, currency, status, created_at, updated_at) SELECT :merchant, spent.id,"
    " :provider, :order_id, :amount, :price, :currency, 'PAYMENT_PENDING', :now, :now"
    " FROM spent RETURNING id),"
    " created AS (INSERT INTO payment_logs (payment_id, event_type, status, message, attempts,"
    " created_at, updated_at) SELECT id, 'EVENT_PAYMENT_CREATED', 'LOG_SUCCESS', '', 0, :now,"
    " :now FROM payment)"
    " SELECT id FROM payment",
)
_STORE_LINK = statement(
    "floor_store_link",
    "WITH linked AS (UPDATE payments SET payment_url = :url, updated_at = :now"
    " WHERE id = :payment AND status = 'PAYMENT_PENDING' RETURNING id),"
    " accepted AS (INSERT INTO payment_logs (payment_id, event_type, status, message, payload,"
    " attempts, created_at, updated_at) SELECT id, 'EVENT_PROVIDER_PAYMENT_ACCEPTED',"
    " 'LOG_SUCCESS', '', CAST(:payload AS jsonb), 0, :now, :now FROM linked)"
    " SELECT id FROM linked",
)

_PAYMENT_TO_FINISH = statement(
    "floor_payment_to_finish",
    "SELECT id, order_id, merchant_id, status, amount, price, currency FROM payments"
    " WHERE id = :id",
)
# The status, the timeline row and the notification in one statement, as the service does.
_FINISH_WITH_ROWS = statement(
    "floor_finish_with_rows",
    "WITH finished AS (UPDATE payments SET status = 'PAYMENT_FINISHED', updated_at = :now"
    " WHERE id = :id AND status = 'PAYMENT_PENDING' RETURNING id),"
    " written AS (INSERT INTO payment_logs (payment_id, event_type, status, message, payload,"
    " attempts, webhook_id, next_retry_at, created_at, updated_at)"
    " SELECT id, 'EVENT_PROVIDER_REPORT_RECEIVED', 'LOG_SUCCESS', '', CAST(:report AS jsonb), 0,"
    " NULL, CAST(NULL AS timestamptz), CAST(:now AS timestamptz), :now FROM finished"
    " UNION ALL SELECT id, 'EVENT_MERCHANT_NOTIFICATION_SENT', 'LOG_PENDING', '',"
    " CAST(:notification AS jsonb), 0, :webhook_id, :sweep_at, :now, :now FROM finished"
    " RETURNING id, event_type)"
    " SELECT id FROM written WHERE event_type = 'EVENT_MERCHANT_NOTIFICATION_SENT'",
)


def _merchant_id() -> int:
    key_hash = hashlib.sha256(request.headers["X-API-Key"].encode()).hexdigest()
    cached = _redis.get(_PREFIX + key_hash)
    if cached is not None:
        return int(cached)
    with _autocommit.connect() as connection:
        merchant = connection.scalar(_MERCHANT_OF_KEY, {"key_hash": key_hash})
    _redis.set(_PREFIX + key_hash, merchant, ex=60)
    return merchant


def _answer(document: dict, status: int = 200) -> Response:
    """A JSON answer written by orjson, as the service's (payments/fast_json.py)."""
    return Response(dumps(document), status, mimetype="application/json")


@blueprint.get("/payments/<int:payment_id>")
def show(payment_id: int):
    merchant = _merchant_id()
    with _autocommit.connect() as connection:
        row = connection.execute(_SHOW, {"id": payment_id, "merchant": merchant}).one()
    return _answer(
        {
            "payment_id": row.id,
            "order_id": row.order_id,
            "status": row.status,
            "amount": str(row.amount),
            "price": str(row.price),
            "currency": row.currency,
            "payment_url": row.payment_url,
            "provider": row.alias,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
        }
    )


@blueprint.post("/payments")
def create():
    merchant = _merchant_id()
    body = request.get_json()
    now = datetime.now(UTC)
    with _autocommit.connect() as connection:
        target = connection.execute(
            _TARGET, {"merchant": merchant, "plan": body["subscription_id"], "alias": body["alias"]}
        ).one()
        payment_id = connection.scalar(
            _OPEN_PAYMENT,
            {
                "merchant": merchant,
                "subscription": target.user_subscription_id,
                "provider": target.id,
                "order_id": body["order_id"],
                "amount": body["amount"],
                "price": body["price"],
                "currency": body["currency"],
                "now": now,
            },
        )
    answer = _http.request(
        "POST",
        _PROVIDER,
        body=dumps({"payment_id": payment_id, "order_id": body["order_id"]}),
        headers={"Content-Type": "application/json"},
        timeout=5.0,
    )
    link = json.loads(answer.data)["payment_url"]
    with _autocommit.connect() as connection:
        connection.execute(
            _STORE_LINK,
            {
                "url": link,
                "payment": payment_id,
                "payload": dumps_text({"payment_url": link}),
                "now": now,
            },
        )
    return _answer(
        {"payment_id": payment_id, "status": "PAYMENT_PENDING", "payment_url": link}, 201
    )


@blueprint.post("/webhook")
def webhook():
    raw = request.get_data()
    expected = hmac.new(_SECRET, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Internal-Signature", "")):
        return _answer({"error": "bad signature"}, 401)
    payment_id, now = json.loads(raw)["payment_id"], datetime.now(UTC)
    with _autocommit.connect() as connection:
        payment = connection.execute(_PAYMENT_TO_FINISH, {"id": payment_id}).one()
        if payment.status != "PAYMENT_PENDING":
            return _answer({"message": "already processed"})
        notification = {
            "type": "payment.finished",
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "merchant_id": payment.merchant_id,
            "status": "PAYMENT_FINISHED",
            "amount": str(payment.amount),
            "price": str(payment.price),
            "currency": payment.currency,
            "timestamp": now.isoformat(),
        }
        log_id = connection.scalar(
            _FINISH_WITH_ROWS,
            {
                "id": payment.id,
                "report": dumps_text({"report": "finished"}),
                "notification": dumps_text(notification),
                "webhook_id": "msg_" + uuid.uuid4().hex,
                # Out of the service's sweep's way: only the floor's actor delivers these.
                "sweep_at": now + timedelta(hours=1),
                "now": now,
            },
        )
    if log_id is None:
        return _answer({"message": "already processed"})
    floor_notify.send(log_id)
    return _answer({"message": "processed", "payment_id": payment_id, "status": "PAYMENT_FINISHED"})
