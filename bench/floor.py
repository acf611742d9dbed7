"""The stack's floor for show and create: the least work the contract needs, on the same fixed
libraries (Flask, SQLAlchemy, psycopg2, redis, urllib3) and the same gunicorn settings, with
nothing else: no validation, no error handling, no idempotency, no logging, no metrics.

Served by the baseline's gunicorn (bench/baseline_app.py) on the bench's database, Redis and
fake provider. It answers the question a missed target raises: could any implementation of this
design on this stack meet it on this machine? A floor below the target says no; a floor above it
puts a number on what the service's own layers cost.

  GET  /floor/payments/<id>   the API key's merchant from Redis (the database on a miss), then
                              the payment with its provider's alias: one SELECT
  POST /floor/payments        one transaction (provider and plan, payment row, its timeline
                              row, the token), the provider's link over HTTP, a second
                              transaction (the link and its timeline row): the service's
                              creation without its duplicate-order check (the unique index
                              still holds) and without idempotency keys
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

import redis
import urllib3
from flask import Blueprint, request
from sqlalchemy import create_engine, make_url, text

blueprint = Blueprint("floor", __name__, url_prefix="/floor")

_DATABASE = make_url(os.environ.get("PAYMENTS_DB_URL", "postgresql://postgres@127.0.0.1/postgres"))
# psycopg2, as the service: SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://.
_engine = create_engine(
    _DATABASE.set(drivername="postgresql+psycopg2"), pool_size=8, max_overflow=8
)
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_http = urllib3.PoolManager(maxsize=16, block=False, retries=False)
_PROVIDER = os.environ.get("PROVIDER_URL", "http://127.0.0.1:1").rstrip("/") + "/payment-links"
_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "") + "floor:auth:"

_MERCHANT_OF_KEY = text(
    "SELECT k.merchant_id FROM merchant_api_keys AS k JOIN merchants AS m ON m.id = k.merchant_id"
    " WHERE k.key_hash = :key_hash AND k.status = 'active' AND m.status = 'active'"
)
_SHOW = text(
    "SELECT p.id, p.order_id, p.status, p.amount, p.price, p.currency, p.payment_url,"
    " p.expires_at, p.created_at, p.updated_at, pr.alias FROM payments AS p"
    " JOIN providers AS pr ON pr.id = p.provider_id WHERE p.id = :id AND p.merchant_id = :merchant"
)
_TARGET = text(
    "SELECT pr.id, s.id AS user_subscription_id FROM providers AS pr"
    " JOIN user_subscriptions AS s ON s.merchant_id = :merchant AND s.subscription_id = :plan"
    " AND s.status = 'active' WHERE pr.alias = :alias"
)
_INSERT_PAYMENT = text(
    "INSERT INTO payments (merchant_id, user_subscription_id, provider_id, order_id, amount,"
    " price, currency, status, created_at, updated_at) VALUES (:merchant, :subscription,"
    " :provider, :order_id, :amount, :price, :currency, 'PAYMENT_PENDING', :now, :now)"
    " RETURNING id"
)
_INSERT_EVENT = text(
    "INSERT INTO payment_logs (payment_id, event_type, status, message, payload, attempts,"
    " created_at, updated_at) VALUES (:payment, :event, 'LOG_SUCCESS', '', :payload, 0, :now,"
    " :now)"
)
_SPEND = text(
    "UPDATE user_subscriptions SET used_tokens = used_tokens + 1 WHERE id = :subscription"
    " AND used_tokens < (SELECT tokens FROM subscriptions WHERE id = subscription_id)"
)
_STORE_LINK = text(
    "UPDATE payments SET payment_url = :url, updated_at = :now"
    " WHERE id = :payment AND status = 'PAYMENT_PENDING'"
)


def _merchant_id() -> int:
    key_hash = hashlib.sha256(request.headers["X-API-Key"].encode()).hexdigest()
    cached = _redis.get(_PREFIX + key_hash)
    if cached is not None:
        return int(cached)
    with _engine.connect() as connection:
        merchant = connection.scalar(_MERCHANT_OF_KEY, {"key_hash": key_hash})
    _redis.set(_PREFIX + key_hash, merchant, ex=60)
    return merchant


@blueprint.get("/payments/<int:payment_id>")
def show(payment_id: int):
    merchant = _merchant_id()
    with _engine.connect() as connection:
        row = connection.execute(_SHOW, {"id": payment_id, "merchant": merchant}).one()
    return {
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


@blueprint.post("/payments")
def create():
    merchant = _merchant_id()
    body = request.get_json()
    now = datetime.now(UTC)
    with _engine.begin() as connection:
        target = connection.execute(
            _TARGET, {"merchant": merchant, "plan": body["subscription_id"], "alias": body["alias"]}
        ).one()
        payment_id = connection.scalar(
            _INSERT_PAYMENT,
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
        connection.execute(
            _INSERT_EVENT,
            {"payment": payment_id, "event": "EVENT_PAYMENT_CREATED", "payload": None, "now": now},
        )
        connection.execute(_SPEND, {"subscription": target.user_subscription_id})
    answer = _http.request(
        "POST",
        _PROVIDER,
        body=json.dumps({"payment_id": payment_id, "order_id": body["order_id"]}).encode(),
        headers={"Content-Type": "application/json"},
        timeout=5.0,
    )
    link = json.loads(answer.data)["payment_url"]
    with _engine.begin() as connection:
        connection.execute(_STORE_LINK, {"url": link, "payment": payment_id, "now": now})
        connection.execute(
            _INSERT_EVENT,
            {
                "payment": payment_id,
                "event": "EVENT_PROVIDER_PAYMENT_ACCEPTED",
                "payload": json.dumps({"payment_url": link}),
                "now": now,
            },
        )
    return {"payment_id": payment_id, "status": "PAYMENT_PENDING", "payment_url": link}, 201
