"""What Swagger UI's "Try it out" does, against the seeded demo data: the documented request
example creates a payment, executing it again answers what the description promises, and the
service's real answers (successes and errors) match the schemas and machine codes the document
lists for them."""

from __future__ import annotations

import pytest
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.support.fake_provider import FakeProvider, point_provider_at
from tests.support.payments_api import URL, auth


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


@pytest.fixture
def provider(app):
    with FakeProvider() as fake:
        point_provider_at(app, fake.url)
        yield fake


@pytest.fixture
def example(spec):
    operation = spec["paths"]["/api/v1/payments"]["post"]
    return dict(operation["requestBody"]["content"]["application/json"]["example"])


def assert_documented(spec, method, path, response):
    """The answer's status is documented for this operation, its body fits the documented
    schema, and an error's machine code is one the document lists for that status."""
    documented = spec["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, (method, path, status, response.get_json())
    media = documented[status]["content"]["application/json"]
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, DRAFT4))
    schema = {"$ref": "urn:spec" + media["schema"]["$ref"]}
    body = response.get_json()
    errors = [e.message for e in OAS30Validator(schema, registry=registry).iter_errors(body)]
    assert not errors, (method, path, status, body, errors)
    if response.status_code >= 400:
        examples = (
            [media["example"]]
            if "example" in media
            else [example["value"] for example in media["examples"].values()]
        )
        assert body["error"] in {example["error"] for example in examples}, body
    return body


def test_the_documented_example_creates_a_payment_and_explains_a_second_try(
    client, demo, spec, provider, example
):
    headers = auth(demo.merchants[0])
    first = client.post(URL, json=example, headers=headers)
    created = assert_documented(spec, "post", URL, first)
    assert first.status_code == 201
    assert first.headers["Location"] == f"{URL}/{created['payment_id']}"

    # Execute pressed again, body unchanged: the order's payment, as the description says.
    again = client.post(URL, json=example, headers=headers)
    assert again.status_code == 200
    existing = assert_documented(spec, "post", URL, again)
    assert existing["message"] == "payment already exists"
    assert existing["payment_id"] == created["payment_id"]

    # ...and with order_id changed, a new payment.
    other = client.post(URL, json={**example, "order_id": example["order_id"] + 1}, headers=headers)
    assert other.status_code == 201
    assert assert_documented(spec, "post", URL, other)["payment_id"] != created["payment_id"]
    assert len(provider.calls()) == 2


def test_the_documented_reads_answer_as_documented(client, demo, spec, provider, example):
    headers = auth(demo.merchants[0])
    payment_id = client.post(URL, json=example, headers=headers).get_json()["payment_id"]
    for path in ("{payment_id}", "{payment_id}/show", "{payment_id}/tracking"):
        real = f"{URL}/" + path.format(payment_id=payment_id)
        assert_documented(spec, "get", f"{URL}/{path}", client.get(real, headers=headers))
        missing = f"{URL}/" + path.format(payment_id=payment_id + 1000)
        assert_documented(spec, "get", f"{URL}/{path}", client.get(missing, headers=headers))
    assert_documented(spec, "get", URL, client.get(URL, headers=headers))
    assert_documented(spec, "get", URL, client.get(f"{URL}?limit=0", headers=headers))
    redeliver = f"{URL}/{payment_id}/notifications/redeliver"
    documented = f"{URL}/{{payment_id}}/notifications/redeliver"
    assert_documented(spec, "post", documented, client.post(redeliver, headers=headers))


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no key", 401),
        ("other merchant id", 403),
        ("unknown alias", 400),
        ("plan not subscribed", 400),
        ("bad amount", 422),
        ("not json", 415),
        ("key reused with another body", 422),
        ("provider error", 502),
    ],
)
def test_creation_errors_are_the_documented_ones(
    client, demo, spec, provider, example, case, status
):
    merchant = demo.merchants[0]
    headers, body, data = auth(merchant), dict(example), None
    if case == "no key":
        headers = {}
    elif case == "other merchant id":
        headers["X-Merchant-Id"] = str(demo.merchants[1].id)
    elif case == "unknown alias":
        body["alias"] = "acme"
    elif case == "plan not subscribed":
        body["subscription_id"] = 3
    elif case == "bad amount":
        body["amount"] = "1.123456789"
    elif case == "not json":
        data, headers["Content-Type"] = "order_id=1", "text/plain"
    elif case == "key reused with another body":
        headers["Idempotency-Key"] = "try-it-out-1"
        assert client.post(URL, json=body, headers=headers).status_code == 201
        body["order_id"] += 1
    elif case == "provider error":
        provider.mode = "error"
    if data is not None:
        response = client.post(URL, data=data, headers=headers)
    else:
        response = client.post(URL, json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    assert_documented(spec, "post", URL, response)


def test_the_provider_webhook_answers_as_documented(client, demo, spec):
    webhook = f"{URL}/webhook"
    example = spec["paths"][webhook]["post"]["requestBody"]["content"]["application/json"]
    unsigned = client.post(webhook, json=example["example"], headers={"X-Internal-Signature": "0"})
    assert unsigned.status_code == 401
    assert_documented(spec, "post", webhook, unsigned)
