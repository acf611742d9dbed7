"""Scenario 4: RabbitMQ is cut off (every process reaches it through one TCP proxy) while
payments finish.

During the outage the API keeps answering: the provider's webhooks get 200 (the outbox row is
committed with the status change; the fast-path publish fails quietly) and merchants can read
their payments. Nothing reaches the merchant while the broker is away. Once it is back, the
worker reconnects, the sweep finds every notification the fast path could not send, and each
arrives once.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.helpers import (
    create_payments,
    notification_rows,
    record,
    report_results,
    wait_until,
)
from tests.support.stack import ROLES, StackOptions

pytestmark = pytest.mark.reliability

PAYMENTS = 150
OUTAGE_SECONDS = 4


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(proxied={"broker": ROLES})


def test_notifications_survive_a_broker_outage(stack, service, orders):
    payment_ids = create_payments(service, orders, PAYMENTS)
    wanted = set(payment_ids)
    merchant = service.merchant(0)

    stack.proxy("broker").cut()
    cut_at = time.monotonic()
    answers = report_results(service, payment_ids)
    slowest_report = time.monotonic() - cut_at
    reads = [service.get(merchant, "", page=1, limit=5).status_code for _ in range(5)]
    health = service.session.get(f"{stack.base_url}/api/v1/payments/health", timeout=15)
    remaining = OUTAGE_SECONDS - (time.monotonic() - cut_at)
    if remaining > 0:
        time.sleep(remaining)
    delivered_during_outage = len(stack.merchant.delivered_payments() & wanted)
    statuses_during_outage = {
        status for status, *_ in notification_rows(stack, payment_ids).values()
    }

    stack.proxy("broker").restore()
    restored_at = time.monotonic()
    recovery = wait_until(
        lambda: stack.merchant.delivered_payments() >= wanted, 90, 0.2, "all delivered"
    )
    ours = [d for d in stack.merchant.accepted() if d.payment_id in wanted]
    figures = record(
        "broker_outage",
        payments=PAYMENTS,
        outage_seconds=round(restored_at - cut_at, 1),
        webhooks_answered_200_during_outage=sum(
            1 for a in answers if getattr(a, "status_code", None) == 200
        ),
        report_phase_seconds=round(slowest_report, 1),
        reads_during_outage=reads,
        health_during_outage=health.status_code,
        delivered_during_outage=delivered_during_outage,
        recovery_seconds=round(recovery, 1),
        delivered=len({d.payment_id for d in ours}),
        delivered_twice=len(ours) - len({d.webhook_id for d in ours}),
        lost=len(wanted - stack.merchant.delivered_payments()),
    )
    assert figures["webhooks_answered_200_during_outage"] == PAYMENTS, [
        getattr(a, "text", a) for a in answers[:3]
    ]
    assert reads == [200] * 5
    assert health.status_code == 503
    assert health.json()["checks"]["broker"] != "ok"
    assert delivered_during_outage == 0, "the outage was real"
    assert statuses_during_outage <= {"LOG_PENDING", "LOG_PROCESSING", "LOG_RETRYING"}
    assert figures["lost"] == 0
    assert stack.merchant.invalid_signatures() == 0
