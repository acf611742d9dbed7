"""POST /api/v1/payments/webhook: signature, validation, the transition and its outbox row in one
transaction, idempotent repeats, contradictions, and concurrent reports."""

import threading

import dramatiq
import pika
import pytest

from payments.domain.statuses import EventType, LogStatus, PaymentStatus
from payments.extensions import db
from payments.models import Payment, utcnow
from payments.services import outbox, provider_reports, timeline_sql
from payments.services.timeline import TimelineEvent
from tests.conftest import TEST_WEBHOOK_SECRET as SECRET
from tests.support.factories import make_payment
from tests.support.processes import free_port
from tests.support.reports import WEBHOOK, notification_rows, post_report, sign, timeline


@pytest.fixture
def payment_id(app, demo):
    with app.app_context():
        return make_payment(demo.merchants[0].id, order_id=1001).id


def _status(app, payment_id):
    with app.app_context():
        return db.session.get(Payment, payment_id).status


def _assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status
    assert body["error"] == code
    return body


@pytest.mark.parametrize(
    ("report", "final", "kind"),
    [
        ("finished", PaymentStatus.FINISHED, "payment.finished"),
        ("failed", PaymentStatus.FAILED, "payment.failed"),
        ("expired", PaymentStatus.EXPIRED, "payment.expired"),
    ],
)
def test_signed_report_moves_the_payment_and_queues_one_notification(
    app, client, demo, payment_id, report, final, kind
):
    response = post_report(
        client,
        SECRET,
        payment_id,
        report,
        headers={"X-Request-Id": "req-from-provider"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "message": "processed",
        "payment_id": payment_id,
        "status": final,
    }
    with app.app_context():
        assert db.session.get(Payment, payment_id).status == final
        events = [row.event_type for row in timeline(payment_id)]
        assert events == [EventType.PROVIDER_REPORT_RECEIVED, EventType.MERCHANT_NOTIFICATION]
        (row,) = notification_rows(payment_id)
        assert row.status == LogStatus.PENDING
        assert row.webhook_id.startswith("msg_")
        assert row.next_retry_at is not None
        assert row.request_id == "req-from-provider"
        assert row.attempts == 0
        payment = db.session.get(Payment, payment_id)
        assert row.payload == {
            "type": kind,
            "payment_id": payment_id,
            "order_id": 1001,
            "merchant_id": demo.merchants[0].id,
            "status": final,
            "amount": "10.50",
            "price": "10.50",
            "currency": "USD",
            "timestamp": row.payload["timestamp"],
        }
        assert payment.updated_at.isoformat()[:16] == row.payload["timestamp"][:16]


def test_report_without_a_json_content_type_is_accepted(app, client, payment_id):
    response = post_report(client, SECRET, payment_id, "finished", content_type="text/plain")
    assert response.status_code == 200
    response = post_report(client, SECRET, payment_id, "finished")
    assert response.status_code == 200
    assert _status(app, payment_id) == PaymentStatus.FINISHED


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "not-hex",
        sign("another-secret-of-enough-length", b'{"payment_id": 1, "status": "finished"}'),
        "\u00e9" * 64,
        "a" * 10_000,
    ],
)
def test_missing_or_wrong_signature_is_401_and_changes_nothing(app, client, payment_id, signature):
    body = f'{{"payment_id": {payment_id}, "status": "finished"}}'.encode()
    headers = {} if signature is None else {"X-Internal-Signature": signature}
    response = client.post(WEBHOOK, data=body, headers=headers, content_type="application/json")
    _assert_error(response, 401, "invalid_signature")
    assert _status(app, payment_id) == PaymentStatus.PENDING
    with app.app_context():
        assert timeline(payment_id) == []


def test_tampered_body_is_401(app, client, payment_id):
    signed = f'{{"payment_id": {payment_id}, "status": "failed"}}'.encode()
    tampered = signed.replace(b"failed", b"finished")
    response = client.post(
        WEBHOOK,
        data=tampered,
        headers={"X-Internal-Signature": sign(SECRET, signed)},
        content_type="application/json",
    )
    _assert_error(response, 401, "invalid_signature")
    assert _status(app, payment_id) == PaymentStatus.PENDING


def test_signature_is_checked_before_the_payment_is_looked_up(client):
    body = b'{"payment_id": 999999, "status": "finished"}'
    response = client.post(WEBHOOK, data=body, headers={"X-Internal-Signature": "00" * 32})
    _assert_error(response, 401, "invalid_signature")


def test_signature_in_upper_case_hex_is_accepted(client, payment_id):
    body = f'{{"payment_id": {payment_id}, "status": "finished"}}'.encode()
    response = client.post(
        WEBHOOK, data=body, headers={"X-Internal-Signature": sign(SECRET, body).upper()}
    )
    assert response.status_code == 200


def test_unknown_payment_is_404(client, demo):
    _assert_error(post_report(client, SECRET, 987654, "finished"), 404, "payment_not_found")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"null",
        b'{"status": "finished"}',
        b'{"payment_id": 1}',
        b'{"payment_id": "1", "status": "finished"}',
        b'{"payment_id": true, "status": "finished"}',
        b'{"payment_id": 1.5, "status": "finished"}',
        b'{"payment_id": 0, "status": "finished"}',
        b'{"payment_id": 99999999999999999999999, "status": "finished"}',
        b'{"payment_id": 1, "status": "processing"}',
        b'{"payment_id": 1, "status": "FINISHED"}',
        b'{"payment_id": 1, "status": 3}',
    ],
)
def test_malformed_report_is_422(client, demo, body):
    response = client.post(WEBHOOK, data=body, headers={"X-Internal-Signature": sign(SECRET, body)})
    _assert_error(response, 422, "validation_error")


def test_unknown_status_names_the_field(client, payment_id):
    body = _assert_error(
        post_report(client, SECRET, payment_id, "refunded"), 422, "validation_error"
    )
    assert "status" in body["errors"]


def test_the_same_report_again_is_already_processed_and_writes_nothing(app, client, payment_id):
    assert post_report(client, SECRET, payment_id, "finished").status_code == 200
    with app.app_context():
        before = [(row.id, row.status) for row in timeline(payment_id)]
    again = post_report(client, SECRET, payment_id, "finished")
    assert again.status_code == 200
    assert again.get_json() == {"message": "already processed"}
    with app.app_context():
        assert [(row.id, row.status) for row in timeline(payment_id)] == before


@pytest.mark.parametrize(("first", "second"), [("finished", "failed"), ("failed", "expired")])
def test_a_contradicting_report_is_409(app, client, payment_id, first, second):
    assert post_report(client, SECRET, payment_id, first).status_code == 200
    _assert_error(post_report(client, SECRET, payment_id, second), 409, "invalid_transition")
    with app.app_context():
        assert len(notification_rows(payment_id)) == 1
        assert len(timeline(payment_id)) == 2


def test_concurrent_reports_make_exactly_one_notification(app, payment_id):
    answers, barrier = [], threading.Barrier(8)

    def report(status):
        barrier.wait()
        response = post_report(app.test_client(), SECRET, payment_id, status)
        answers.append((response.status_code, (response.get_json() or {}).get("message")))

    statuses = ["finished"] * 6 + ["failed"] * 2
    threads = [threading.Thread(target=report, args=(status,)) for status in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in answers)[-1] in (200, 409)
    assert [message for _, message in answers].count("processed") == 1
    with app.app_context():
        (row,) = notification_rows(payment_id)
        final = db.session.get(Payment, payment_id).status
        assert row.payload["status"] == final
        reports = [
            r for r in timeline(payment_id) if r.event_type == "EVENT_PROVIDER_REPORT_RECEIVED"
        ]
        assert len(reports) == 1
    # Same report as the winner: "already processed"; the other one: a conflict.
    winner_is_finished = final == PaymentStatus.FINISHED
    conflicts = sum(1 for code, _ in answers if code == 409)
    assert conflicts == (2 if winner_is_finished else 6)


def test_openapi_documents_the_webhook_and_redeliver(client):
    spec = client.get("/openapi.json").get_json()
    webhook = spec["paths"]["/api/v1/payments/webhook"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["example"]
    assert any(p["name"] == "X-Internal-Signature" for p in webhook["parameters"])
    assert webhook.get("security") == []
    redeliver = spec["paths"]["/api/v1/payments/{payment_id}/notifications/redeliver"]["post"]
    assert "202" in redeliver["responses"]
    assert redeliver["security"] == [{"ApiKeyAuth": []}]


def test_a_refused_fast_path_hands_the_notification_to_the_next_sweep(app, client, payment_id):
    """Normally the sweep leaves a fresh notification to its fast-path message for a grace
    period; when that message could not be sent at all, the row is due at once."""
    broker = dramatiq.get_broker()
    reachable = broker.parameters
    broker.parameters = pika.ConnectionParameters(
        host="127.0.0.1", port=free_port(), connection_attempts=1
    )
    del broker.connection  # this thread's next publish connects to the closed port
    try:
        response = post_report(client, SECRET, payment_id, "finished")
    finally:
        broker.parameters = reachable
        del broker.connection
    assert response.status_code == 200
    with app.app_context():
        (row,) = notification_rows(payment_id)
        assert row.status == LogStatus.PENDING
        assert row.next_retry_at <= utcnow()


def test_a_sent_fast_path_leaves_the_sweep_a_grace_period(app, client, payment_id):
    assert post_report(client, SECRET, payment_id, "finished").status_code == 200
    with app.app_context():
        (row,) = notification_rows(payment_id)
        assert row.next_retry_at > utcnow() + outbox.FAST_PATH_GRACE / 2


def test_the_write_changes_nothing_once_the_payment_is_no_longer_pending(app, demo):
    """On PostgreSQL a report reads the payment, then writes in one statement guarded by the
    pending status: a payment that became final in between (another report, the sweep's
    expiry) gets no status change, no timeline row and no notification."""
    with app.app_context():
        payment_id = make_payment(demo.merchants[0].id, 1002, status=PaymentStatus.EXPIRED).id
        now = utcnow()
        event = TimelineEvent(EventType.PROVIDER_REPORT_RECEIVED, "would be the report")
        with db.engine.begin() as connection:
            written = connection.execute(
                provider_reports._FINISH_WITH_EVENTS,
                {
                    "report_payment_id": payment_id,
                    "target": PaymentStatus.FINISHED,
                    "now": now,
                    **timeline_sql.event_values("report", event, None, now),
                    **timeline_sql.event_values("notice", event, None, now),
                },
            ).scalar_one_or_none()
        assert written is None
        assert timeline(payment_id) == []
        assert db.session.get(Payment, payment_id).status == PaymentStatus.EXPIRED
