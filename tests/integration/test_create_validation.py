"""Whatever a client sends to POST /api/v1/payments gets a 4xx JSON answer, never a 500, and
nothing refused up front is spent or stored."""

import pytest

from tests.support.payments_api import (
    URL,
    assert_error,
    auth,
    create_body,
    payment_count,
    used_tokens,
)

BAD_FIELDS = [
    ("order_id", "12"),
    ("order_id", 0),
    ("order_id", -5),
    ("order_id", 1.5),
    ("order_id", True),
    ("order_id", 2**63),
    ("order_id", None),
    ("subscription_id", "1"),
    ("subscription_id", 10**30),
    ("amount", -1),
    ("amount", 0),
    ("amount", "0.000000001"),
    ("amount", "12345678901"),
    ("amount", 1e400),
    ("amount", "1e400"),
    ("amount", "NaN"),
    ("amount", "Infinity"),
    ("amount", "ten"),
    ("amount", True),
    ("amount", [1]),
    ("amount", {"value": 1}),
    ("amount", "9" * 5000),
    ("price", None),
    ("alias", 5),
    ("alias", ""),
    ("alias", "a" * 65),
    ("currency", "usd"),
    ("currency", "US"),
    ("currency", "EURO"),
    ("currency", 840),
    ("currency", "USD\n"),
    ("event_id", ""),
    ("event_id", "e" * 256),
    ("event_id", 7),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_bad_field_is_a_422_naming_the_field(app, client, demo, provider, field, value):
    response = client.post(URL, json=create_body(**{field: value}), headers=auth(demo.merchants[0]))
    answer = assert_error(response, 422, "validation_error")
    assert field in answer["errors"]
    assert payment_count(app) == 0
    assert used_tokens(app, demo.merchants[0].id) == 0


@pytest.mark.parametrize("field", ["order_id", "amount", "price", "alias", "subscription_id"])
def test_missing_field_is_a_422(client, demo, provider, field):
    body = create_body()
    del body[field]
    answer = assert_error(
        client.post(URL, json=body, headers=auth(demo.merchants[0])), 422, "validation_error"
    )
    assert field in answer["errors"]


@pytest.mark.parametrize(
    "raw", ["", "not json", "{", "[]", "[1, 2]", '"text"', "null", "42", '{"order_id": 1,}']
)
def test_body_that_is_not_a_json_object_is_a_4xx(app, client, demo, provider, raw):
    response = client.post(
        URL, data=raw, content_type="application/json", headers=auth(demo.merchants[0])
    )
    assert 400 <= response.status_code < 500
    assert response.is_json
    assert response.get_json()["code"] == response.status_code
    assert payment_count(app) == 0


def test_body_not_declared_json_is_415(client, demo, provider):
    response = client.post(
        URL, data="order_id=1", content_type="text/plain", headers=auth(demo.merchants[0])
    )
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_64_kib_is_413(client, demo, provider):
    response = client.post(
        URL, json=create_body(note="x" * 70_000), headers=auth(demo.merchants[0])
    )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("key", [None, "", "pk_wrong", "x" * 300])
def test_bad_api_key_is_401_before_anything_else(client, demo, provider, key):
    headers = {} if key is None else {"X-API-Key": key}
    assert_error(client.post(URL, json={"junk": True}, headers=headers), 401, "unauthorized")


def test_merchant_id_header_must_match_the_key(client, demo, provider):
    headers = auth(demo.merchants[0], **{"X-Merchant-Id": str(demo.merchants[1].id)})
    assert_error(client.post(URL, json=create_body(), headers=headers), 403, "merchant_mismatch")
    headers = auth(demo.merchants[0], **{"X-Merchant-Id": "abc"})
    assert_error(client.post(URL, json=create_body(), headers=headers), 403, "merchant_mismatch")


def test_idempotency_key_of_256_characters_is_422(app, client, demo, provider):
    headers = auth(demo.merchants[0], **{"Idempotency-Key": "k" * 256})
    answer = assert_error(
        client.post(URL, json=create_body(), headers=headers), 422, "validation_error"
    )
    assert "Idempotency-Key" in answer["errors"]
    assert payment_count(app) == 0


def test_idempotency_key_of_255_characters_is_fine(client, demo, provider):
    headers = auth(demo.merchants[0], **{"Idempotency-Key": "k" * 255})
    assert client.post(URL, json=create_body(), headers=headers).status_code == 201


def test_amount_with_eight_decimals_and_ten_digits_is_accepted(client, demo, provider):
    body = create_body(amount="9999999999.99999999", price=0.00000001)
    response = client.post(URL, json=body, headers=auth(demo.merchants[0]))
    assert response.status_code == 201
    sent = provider.calls()[0].json()
    assert sent["amount"] == "9999999999.99999999"
    assert sent["price"] == "0.00000001"


def test_trailing_slash_and_wrong_method_are_json(client, demo):
    assert client.put(URL, json={}, headers=auth(demo.merchants[0])).status_code == 405
    response = client.delete(f"{URL}/1", headers=auth(demo.merchants[0]))
    assert response.status_code == 405
    assert response.is_json
