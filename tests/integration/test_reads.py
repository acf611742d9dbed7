"""GET list / show / tracking: shapes of SPEC, newest/oldest first, and tenant isolation."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from payments.extensions import db, redis_store
from payments.models import PaymentLog
from payments.services import count_cache, queries
from tests.support.factories import make_payment
from tests.support.payments_api import URL, assert_error, auth

ISO_UTC = "+00:00"


@pytest.fixture
def payments_of_a(app, demo):
    """Merchant A (demo 0) has five payments, merchant B (demo 1) one."""
    a, b = demo.merchants[0].id, demo.merchants[1].id
    with app.app_context():
        ids = [make_payment(a, order, amount=f"{order}.25").id for order in range(1, 4)]
        ids.append(make_payment(a, 4, status="PAYMENT_FINISHED", alias="paypal").id)
        ids.append(make_payment(a, 5, status="PAYMENT_FAILED").id)
        other = make_payment(b, 1).id
    return ids, other


def test_list_is_newest_first_with_spec_fields(client, demo, payments_of_a):
    ids, _ = payments_of_a
    page = client.get(URL, headers=auth(demo.merchants[0])).get_json()
    assert page["page"] == 1
    assert page["limit"] == 20
    assert page["total"] == 5
    assert page["has_next"] is False
    assert [item["payment_id"] for item in page["items"]] == ids[::-1]
    first = page["items"][-1]
    assert set(first) == {
        "payment_id",
        "order_id",
        "provider",
        "amount",
        "price",
        "currency",
        "status",
        "created_at",
    }
    assert first["amount"] == "1.25"
    assert first["provider"] == "stripe"
    assert first["created_at"].endswith(ISO_UTC)
    assert page["items"][1]["provider"] == "paypal"


def test_list_pages_and_filters(client, demo, payments_of_a):
    ids, _ = payments_of_a
    headers = auth(demo.merchants[0])
    second = client.get(f"{URL}?page=2&limit=2", headers=headers).get_json()
    assert [item["payment_id"] for item in second["items"]] == [ids[2], ids[1]]
    assert second["has_next"] is True
    assert second["total"] == 5
    last = client.get(f"{URL}?page=3&limit=2", headers=headers).get_json()
    assert last["has_next"] is False
    assert len(last["items"]) == 1
    beyond = client.get(f"{URL}?page=9&limit=2", headers=headers).get_json()
    assert beyond["items"] == []
    finished = client.get(f"{URL}?status=PAYMENT_FINISHED", headers=headers).get_json()
    assert [item["payment_id"] for item in finished["items"]] == [ids[3]]
    assert finished["total"] == 1
    by_order = client.get(f"{URL}?order_id=2", headers=headers).get_json()
    assert [item["payment_id"] for item in by_order["items"]] == [ids[1]]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "page=0",
        "page=-3",
        "page=x",
        "page=99999999999999999999",
        "status=DONE",
        "order_id=0",
        "order_id=abc",
        "order_id=99999999999999999999",
    ],
)
def test_invalid_query_is_a_422(client, demo, query):
    response = client.get(f"{URL}?{query}", headers=auth(demo.merchants[0]))
    answer = assert_error(response, 422, "validation_error")
    assert query.split("=")[0] in answer["errors"]


def test_large_totals_come_from_a_short_lived_cache(app, client, demo, monkeypatch, settings):
    monkeypatch.setattr(queries, "EXACT_COUNT_LIMIT", 3)
    merchant = demo.merchants[0].id
    with app.app_context():
        for order in range(1, 6):
            make_payment(merchant, order)
    headers = auth(demo.merchants[0])
    assert client.get(f"{URL}?limit=2", headers=headers).get_json()["total"] == 5
    with app.app_context():
        make_payment(merchant, 6)
    cached = client.get(f"{URL}?limit=2", headers=headers).get_json()
    assert cached["total"] == 5  # fresh for count_cache.FRESH_SECONDS
    assert cached["items"][0]["order_id"] == 6  # while the items are live
    # Stale, and another request is recounting: the stale total still answers.
    monkeypatch.setattr(count_cache, "FRESH_SECONDS", 0)
    key = queries.PaymentFilter(merchant).cache_key(settings)
    redis_store.client.set(f"{key}:refresh", 1, ex=10)
    assert client.get(f"{URL}?limit=2", headers=headers).get_json()["total"] == 5
    redis_store.client.delete(f"{key}:refresh")
    assert client.get(f"{URL}?limit=2", headers=headers).get_json()["total"] == 6
    # A page never shows fewer payments than it proves exist, even from a stale count.
    with app.app_context():
        make_payment(merchant, 7)
        make_payment(merchant, 8)
    monkeypatch.setattr(count_cache, "FRESH_SECONDS", 30)
    assert client.get(f"{URL}?limit=2&page=4", headers=headers).get_json()["total"] == 8


def test_show_has_every_field_of_spec(app, client, demo):
    expires = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    with app.app_context():
        payment = make_payment(demo.merchants[0].id, 12, amount="0.00000001", expires_at=expires)
        payment_id = payment.id
    for path in (f"{URL}/{payment_id}", f"{URL}/{payment_id}/show"):
        answer = client.get(path, headers=auth(demo.merchants[0])).get_json()
        assert answer["payment_id"] == payment_id
        assert answer["order_id"] == 12
        assert answer["provider"] == "stripe"
        assert answer["amount"] == answer["price"] == "0.00000001"
        assert answer["currency"] == "USD"
        assert answer["status"] == "PAYMENT_PENDING"
        assert answer["payment_url"] == "http://provider.test/pay/x"
        assert datetime.fromisoformat(answer["expires_at"]) == expires
        assert answer["created_at"].endswith(ISO_UTC)
        assert answer["updated_at"].endswith(ISO_UTC)


def test_tracking_is_oldest_first_with_notification_details(app, client, demo):
    with app.app_context():
        payment = make_payment(demo.merchants[0].id, 3, status="PAYMENT_FINISHED")
        payment_id = payment.id
        retry_at = datetime.now(UTC) + timedelta(minutes=5)
        db.session.add_all(
            [
                PaymentLog(
                    payment_id=payment_id,
                    event_type="EVENT_PAYMENT_CREATED",
                    status="LOG_SUCCESS",
                    message="created",
                    payload={"amount": "10.50"},
                ),
                PaymentLog(
                    payment_id=payment_id,
                    event_type="EVENT_MERCHANT_NOTIFICATION_SENT",
                    status="LOG_RETRYING",
                    message="notify",
                    attempts=2,
                    next_retry_at=retry_at,
                    last_response_code=503,
                    last_error="HTTP 503",
                ),
            ]
        )
        db.session.commit()
    answer = client.get(f"{URL}/{payment_id}/tracking", headers=auth(demo.merchants[0]))
    body = answer.get_json()
    assert body["payment_id"] == payment_id
    assert body["payment_status"] == "PAYMENT_FINISHED"
    created, notification = body["events"]
    assert set(created) == {"event_type", "status", "message", "payload", "timestamp"}
    assert created["payload"] == {"amount": "10.50"}
    assert created["timestamp"].endswith(ISO_UTC)
    assert notification["event_type"] == "EVENT_MERCHANT_NOTIFICATION_SENT"
    assert notification["attempts"] == 2
    assert notification["last_response_code"] == 503
    assert notification["last_error"] == "HTTP 503"
    assert datetime.fromisoformat(notification["next_retry_at"]) == retry_at


def test_other_merchants_payments_are_invisible(client, demo, payments_of_a):
    ids, other = payments_of_a
    a, b = auth(demo.merchants[0]), auth(demo.merchants[1])
    listed_by_b = client.get(URL, headers=b).get_json()
    assert [item["payment_id"] for item in listed_by_b["items"]] == [other]
    assert listed_by_b["total"] == 1
    for payment_id in ids:
        for suffix in ("", "/show", "/tracking"):
            response = client.get(f"{URL}/{payment_id}{suffix}", headers=b)
            unknown = client.get(f"{URL}/{10**9 + payment_id}{suffix}", headers=b)
            assert response.status_code == unknown.status_code == 404
            assert response.get_json() == unknown.get_json()
    assert client.get(f"{URL}/{other}", headers=a).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["abc", "-1", "0", "1.5", "99999999999999999999", "9223372036854775808", "%00", "1%20"],
)
@pytest.mark.parametrize("suffix", ["", "/show", "/tracking"])
def test_malformed_payment_id_is_a_json_404(client, demo, path, suffix):
    response = client.get(f"{URL}/{path}{suffix}", headers=auth(demo.merchants[0]))
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_reads_need_authentication(client, demo, payments_of_a):
    ids, _ = payments_of_a
    for path in (URL, f"{URL}/{ids[0]}", f"{URL}/{ids[0]}/tracking"):
        assert_error(client.get(path), 401, "unauthorized")
        assert_error(client.get(path, headers={"X-API-Key": "pk_nope"}), 401, "unauthorized")


def test_amounts_stay_decimal(app, client, demo):
    with app.app_context():
        payment_id = make_payment(demo.merchants[0].id, 1, amount="1234567890.12345678").id
    answer = client.get(f"{URL}/{payment_id}", headers=auth(demo.merchants[0])).get_json()
    assert Decimal(answer["amount"]) == Decimal("1234567890.12345678")


def test_gateway_mode_reads_the_merchant_from_x_merchant_id(app, settings, demo, payments_of_a):
    from payments import create_app

    gateway = create_app(settings.model_copy(update={"auth_mode": "gateway"}))
    client = gateway.test_client()
    ids, other = payments_of_a
    listed = client.get(URL, headers={"X-Merchant-Id": str(demo.merchants[1].id)}).get_json()
    assert [item["payment_id"] for item in listed["items"]] == [other]
    assert (
        client.get(
            f"{URL}/{ids[0]}", headers={"X-Merchant-Id": str(demo.merchants[1].id)}
        ).status_code
        == 404
    )
    assert_error(client.get(URL), 401, "unauthorized")
    assert_error(client.get(URL, headers={"X-Merchant-Id": "1 OR 1=1"}), 401, "unauthorized")
    with gateway.app_context():
        db.engine.dispose()
