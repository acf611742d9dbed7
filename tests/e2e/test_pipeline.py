"""The whole notification pipeline with the real processes: `gunicorn wsgi:app`,
`dramatiq tasks` and `python -m tasks.scheduler` on PostgreSQL, RabbitMQ and Redis, and a
merchant on loopback that verifies every notification with standardwebhooks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
import requests

from payments.domain.statuses import LogStatus
from payments.models import utcnow
from tests.conftest import RABBITMQ_URL, REDIS_URL, TEST_WEBHOOK_SECRET
from tests.support import processes
from tests.support.factories import make_payment
from tests.support.fake_merchant import FakeMerchant
from tests.support.rabbitmq import delete_queues
from tests.support.redis_keys import delete_keys
from tests.support.reports import notification_rows, report_body, sign

pytestmark = pytest.mark.e2e

SCHEDULE = "1,1,2"  # attempts: 4


@pytest.fixture(scope="module")
def merchant():
    with FakeMerchant("whsec_" + "A" * 43 + "=") as fake:
        yield fake


@pytest.fixture(scope="module")
def service(app, settings_env, merchant, tmp_path_factory):
    """The three production processes, started once for this module."""
    port = processes.free_port()
    run = uuid.uuid4().hex[:8]
    env = processes.clean_env(
        **{
            **settings_env,
            "QUEUE_NAME": f"payments-e2e-{run}.merchant",
            "REDIS_KEY_PREFIX": f"payments-e2e-{run}:",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "4",
            "SERVICE_URL": f"http://127.0.0.1:{port}",
            "MERCHANT_CALLBACK_URL": merchant.url,
            "NOTIFY_RETRY_SCHEDULE": SCHEDULE,
            "NOTIFY_TIMEOUT_SECONDS": "2",
            "SWEEP_INTERVAL_SECONDS": "0.5",
        }
    )
    logs = tmp_path_factory.mktemp("pipeline")
    commands = {
        "api": [sys.executable, "-m", "gunicorn", "wsgi:app"],
        "worker": [sys.executable, "-m", "dramatiq", "tasks", "-p", "1", "-t", "4"],
        "scheduler": [sys.executable, "-m", "tasks.scheduler"],
    }
    started = {
        name: processes.start(cmd, env, logs / f"{name}.log") for name, cmd in commands.items()
    }
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until_up(f"{base}/api/v1/payments/ping", started["api"], logs / "api.log")
        yield base, logs
    finally:
        codes = {name: _terminate(process) for name, process in started.items()}
        assert codes == {"api": 0, "worker": 0, "scheduler": 0}, (logs / "worker.log").read_text()
        delete_queues(RABBITMQ_URL, env["QUEUE_NAME"], env["QUEUE_NAME"] + ".sweep")
        delete_keys(REDIS_URL, env["REDIS_KEY_PREFIX"])


def _terminate(process) -> int:
    """SIGTERM to the main process only, as an orchestrator does (dramatiq's main process
    forwards it to its workers; a second SIGTERM to a worker means "kill")."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return processes.stop(process, signal.SIGKILL)


def _report(base, payment_id, status, request_id=None):
    body = report_body(payment_id, status)
    headers = {"X-Internal-Signature": sign(TEST_WEBHOOK_SECRET, body)}
    if request_id:
        headers["X-Request-Id"] = request_id
    return requests.post(f"{base}/api/v1/payments/webhook", data=body, headers=headers, timeout=10)


def _row(app, payment_id):
    with app.app_context():
        return notification_rows(payment_id)[0]


def _wait_for_status(app, payment_id, status, timeout=20.0):
    deadline = time.monotonic() + timeout
    while (row := _row(app, payment_id)).status != status:
        assert time.monotonic() < deadline, (row.status, row.attempts, row.last_error)
        time.sleep(0.1)
    return row


def test_each_final_status_reaches_the_merchant_exactly_once(app, demo, service, merchant):
    base, _logs = service
    owner = demo.merchants[0]
    merchant.reset(owner.webhook_secret, 204)
    with app.app_context():
        finished = make_payment(owner.id, 1).id
        failed = make_payment(owner.id, 2).id
        # No report will come for this one: the scheduler's sweep expires it.
        expired = make_payment(owner.id, 3, expires_at=utcnow() - timedelta(seconds=1)).id

    answer = _report(base, finished, "finished", request_id="e2e-finished-1")
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-Id"] == "e2e-finished-1"
    assert _report(base, failed, "failed").status_code == 200
    assert _report(base, finished, "finished").json() == {"message": "already processed"}
    assert _report(base, finished, "failed").status_code == 409

    received = merchant.wait_for(3, timeout=30)
    time.sleep(2.0)  # several sweeps later: still no duplicate
    received = merchant.deliveries()
    assert len(received) == 3
    assert all(delivery.verified for delivery in received)
    by_payment = {d.payload["payment_id"]: d for d in received}
    assert by_payment[finished].payload["type"] == "payment.finished"
    assert by_payment[failed].payload["type"] == "payment.failed"
    assert by_payment[expired].payload["type"] == "payment.expired"
    assert by_payment[finished].request_id == "e2e-finished-1"
    for payment_id, delivery in by_payment.items():
        row = _wait_for_status(app, payment_id, LogStatus.SUCCESS)
        assert delivery.webhook_id == row.webhook_id
        assert row.attempts == 1


def test_a_merchant_down_for_a_while_gets_the_notification_once_it_is_back(
    app, demo, service, merchant
):
    base, _logs = service
    owner = demo.merchants[0]
    merchant.reset(owner.webhook_secret, 500)
    with app.app_context():
        payment_id = make_payment(owner.id, 10).id
    assert _report(base, payment_id, "finished").status_code == 200

    merchant.wait_for(4, timeout=30)  # attempt 1 (three quick tries) and attempt 2 began
    row = _row(app, payment_id)
    assert row.last_response_code == 500
    assert row.status in (LogStatus.RETRYING, LogStatus.PROCESSING)
    merchant.answer(204)  # the merchant is back
    back_at = time.monotonic()

    row = _wait_for_status(app, payment_id, LogStatus.SUCCESS, timeout=30)
    assert row.last_response_code == 204
    time.sleep(2.0)
    received = merchant.deliveries()
    assert all(d.verified for d in received)
    assert {d.webhook_id for d in received} == {row.webhook_id}  # one notification, retried
    # Fresh signature per try: the timestamps move on while the webhook-id stays.
    assert len({d.timestamp for d in received}) > 1
    after_recovery = [d for d in received if d.received_at >= back_at]
    assert len(after_recovery) == 1  # delivered once, then nothing more


def test_the_whole_loop_from_creation_to_the_merchant(app, demo, service, merchant):
    """Create through the API (the provider is the sandbox), pay on the checkout page: the
    merchant receives one signed payment.finished and tracking shows the notification."""
    base, _logs = service
    owner = demo.merchants[0]
    merchant.reset(owner.webhook_secret, 204)
    created = requests.post(
        f"{base}/api/v1/payments",
        json={
            "order_id": 4242,
            "amount": "19.99",
            "price": "19.99",
            "alias": "stripe",
            "subscription_id": owner.subscription_id,
        },
        headers={"X-API-Key": owner.api_key, "X-Request-Id": "e2e-create-1"},
        timeout=15,
    )
    assert created.status_code == 201, created.text
    payment_id, payment_url = created.json()["payment_id"], created.json()["payment_url"]
    assert payment_url.startswith(f"{base}/sandbox/pay/")

    checkout = requests.get(payment_url, timeout=10)
    assert checkout.status_code == 200
    assert "19.99 USD" in checkout.text
    paid = requests.post(f"{payment_url}/pay", timeout=15)
    assert "PAYMENT_FINISHED" in paid.text

    (delivery,) = merchant.wait_for(1, timeout=30)
    assert delivery.verified
    assert delivery.payload["type"] == "payment.finished"
    assert delivery.payload["payment_id"] == payment_id
    assert delivery.payload["order_id"] == 4242
    assert delivery.payload["amount"] == "19.99"
    tracking = requests.get(
        f"{base}/api/v1/payments/{payment_id}/tracking",
        headers={"X-API-Key": owner.api_key},
        timeout=10,
    ).json()
    assert tracking["payment_status"] == "PAYMENT_FINISHED"
    notification = tracking["events"][-1]
    assert notification["event_type"] == "EVENT_MERCHANT_NOTIFICATION_SENT"
    assert notification["attempts"] >= 1
