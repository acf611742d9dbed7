"""Sandbox merchant inbox: the default MERCHANT_CALLBACK_URL. It receives notifications as a
merchant would, verifies each signature with the `standardwebhooks` library and the merchant's
secret, and shows what arrived (newest first) at /sandbox/merchant and /sandbox/merchant.json.

What it received is kept in a Redis list when REDIS_URL is set (shared by every gunicorn
worker), else in a bounded in-process deque (the single-process `make run`).
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from payments.extensions import db, redis_store
from payments.models import Merchant

blp = Blueprint(
    "sandbox_merchant_inbox", __name__, url_prefix="/sandbox", template_folder="templates"
)

KEEP = 200
REFRESH_SECONDS = 3


class InboxStore:
    def __init__(self) -> None:
        self._local: deque[str] = deque(maxlen=KEEP)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        document = json.dumps(entry)
        client = redis_store.client
        if client is None:
            with self._lock:
                self._local.appendleft(document)
            return
        key = _redis_key()
        client.pipeline().lpush(key, document).ltrim(key, 0, KEEP - 1).execute()

    def newest_first(self) -> list[dict[str, Any]]:
        client = redis_store.client
        if client is None:
            with self._lock:
                documents = list(self._local)
        else:
            documents = client.lrange(_redis_key(), 0, KEEP - 1)
        return _number_deliveries([json.loads(document) for document in documents])


store = InboxStore()


@blp.post("/merchant/webhook")
def receive():
    """A merchant's webhook endpoint: 204 when the signature verifies, else 401."""
    body = request.get_data(cache=False)
    entry = verify_notification(body, dict(request.headers))
    store.add(entry)
    return ("", 204) if entry["verified"] else (jsonify({"error": entry["error"]}), 401)


@blp.get("/merchant")
def inbox():
    """The notifications received, newest first (refreshes itself)."""
    items = store.newest_first()
    return render_template(
        "sandbox/inbox.html",
        items=items,
        verified=sum(1 for item in items if item.get("verified")),
        merchants=_merchant_names({item.get("merchant_id") for item in items}),
        refreshed_at=datetime.now(UTC).strftime("%H:%M:%S"),
        refresh_seconds=REFRESH_SECONDS,
    )


@blp.get("/merchant.json")
def inbox_json():
    return jsonify({"items": store.newest_first()})


def verify_notification(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """What the merchant makes of one delivery: the payload and whether its signature holds."""
    headers = {name.lower(): value for name, value in headers.items()}
    payload = _json_object(body)
    entry: dict[str, Any] = {
        "received_at": datetime.now(UTC).isoformat(),
        "webhook_id": headers.get("webhook-id"),
        "webhook_timestamp": headers.get("webhook-timestamp"),
        "request_id": headers.get("x-request-id"),
        **{
            field: payload.get(field)
            for field in (
                "type",
                "payment_id",
                "order_id",
                "merchant_id",
                "status",
                "amount",
                "currency",
            )
        },
        "verified": False,
        "error": None,
    }
    merchant_id = payload.get("merchant_id")
    merchant = db.session.get(Merchant, merchant_id) if _is_id(merchant_id) else None
    if merchant is None:
        entry["error"] = "unknown merchant"
        return entry
    try:
        Webhook(merchant.webhook_secret).verify(body, headers)
    except Exception as exc:  # any malformed header is just "not verified"
        entry["error"] = str(exc) or type(exc).__name__
        return entry
    entry["verified"] = True
    return entry


def _merchant_names(ids: set) -> dict[int, str]:
    wanted = [merchant_id for merchant_id in ids if _is_id(merchant_id)]
    if not wanted:
        return {}
    rows = db.session.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(wanted)))
    return dict(rows.all())


def _number_deliveries(newest_first: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`attempt`: the how-many-th time this webhook-id arrived (retries show as 2, 3...)."""
    seen: Counter[str] = Counter()
    for entry in reversed(newest_first):
        seen[entry.get("webhook_id") or ""] += 1
        entry["attempt"] = seen[entry.get("webhook_id") or ""]
    return newest_first


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _redis_key() -> str:
    return f"{current_app.extensions['payments_settings'].redis_key_prefix}sandbox:merchant-inbox"
