"""`make run` closes the loop on its own (SQLite, in-process broker, worker and scheduler
threads, sandbox): checkout -> signed provider report -> outbox -> merchant inbox, verified;
and a link that runs out is expired by the embedded scheduler's sweep."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.support import processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded(tmp_path):
    with processes.make_run(tmp_path) as (base, instance, _log):
        yield base, instance / "payments.db"


def _insert_payment(db_path, order_id, expires_at) -> int:
    """A pending payment of the first demo merchant whose link ran out (written directly: the
    API never creates one already expired)."""
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    now = datetime.now(UTC)
    with sqlite3.connect(db_path) as connection:
        cursor = connection.execute(
            "INSERT INTO payments (merchant_id, user_subscription_id, provider_id, order_id,"
            " amount, price, currency, status, payment_url, expires_at, created_at, updated_at)"
            " VALUES (1, 1, 1, ?, 25.5, 25.5, 'USD', 'PAYMENT_PENDING', 'sandbox', ?, ?, ?)",
            (order_id, expires_at.strftime(stamp), now.strftime(stamp), now.strftime(stamp)),
        )
        return cursor.lastrowid


def _inbox(base, payment_id, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = requests.get(f"{base}/sandbox/merchant.json", timeout=5).json()["items"]
        mine = [item for item in items if item["payment_id"] == payment_id]
        if mine:
            return mine
        time.sleep(0.2)
    raise AssertionError(f"payment {payment_id} never reached the inbox")


def test_make_run_closes_the_loop_from_checkout_to_merchant_inbox(embedded):
    base, db_path = embedded
    credentials = json.loads((db_path.parent / "demo-credentials.json").read_text())
    owner = credentials["merchants"][0]
    created = requests.post(
        f"{base}/api/v1/payments",
        json={
            "order_id": 1,
            "amount": "25.50",
            "price": "25.50",
            "alias": "stripe",
            "subscription_id": owner["subscription_id"],
        },
        headers={"X-API-Key": owner["api_key"]},
        timeout=15,
    )
    assert created.status_code == 201, created.text
    paid, payment_url = created.json()["payment_id"], created.json()["payment_url"]
    page = requests.get(payment_url, timeout=5)
    assert page.status_code == 200
    assert "25.50 USD" in page.text
    sent = requests.post(f"{payment_url}/pay", timeout=10)
    assert sent.status_code == 200
    assert "PAYMENT_FINISHED" in sent.text

    (item,) = _inbox(base, paid)
    assert item["verified"] is True
    assert item["type"] == "payment.finished"
    assert item["webhook_id"].startswith("msg_")

    # No report for this one: the embedded scheduler's sweep expires it and notifies.
    expired = _insert_payment(db_path, 2, datetime.now(UTC) - timedelta(seconds=1))
    (item,) = _inbox(base, expired)
    assert item["verified"] is True
    assert item["type"] == "payment.expired"
    page = requests.get(f"{base}/sandbox/merchant", timeout=5)
    assert "payment.expired" in page.text
