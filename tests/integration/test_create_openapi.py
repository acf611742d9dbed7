"""The OpenAPI document: the payment endpoints, their security, and a request example that
works against the seeded data."""

import pytest
from openapi_spec_validator import validate

from tests.support.fake_provider import FakeProvider, point_provider_at
from tests.support.payments_api import URL, auth

ENDPOINTS = {
    ("/api/v1/payments", "post"),
    ("/api/v1/payments", "get"),
    ("/api/v1/payments/{payment_id}", "get"),
    ("/api/v1/payments/{payment_id}/show", "get"),
    ("/api/v1/payments/{payment_id}/tracking", "get"),
}


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def test_document_is_valid_openapi(spec):
    validate(spec)


def test_payment_endpoints_require_the_api_key(spec):
    for path, method in ENDPOINTS:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"ApiKeyAuth": []}], (path, method)
        assert operation["summary"]


def test_create_documents_its_answers_and_headers(spec):
    operation = spec["paths"]["/api/v1/payments"]["post"]
    assert {"200", "201", "400", "401", "402", "409", "422", "429", "502"} <= set(
        operation["responses"]
    )
    assert "Location" in operation["responses"]["201"]["headers"]
    assert "Retry-After" in operation["responses"]["409"]["headers"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in headers


def test_path_ids_are_integers(spec):
    (parameter,) = spec["paths"]["/api/v1/payments/{payment_id}"]["parameters"]
    assert parameter["schema"]["type"] == "integer"


def test_request_example_creates_a_payment_against_the_seed(app, client, demo, spec):
    example = spec["paths"]["/api/v1/payments"]["post"]["requestBody"]["content"][
        "application/json"
    ]["example"]
    with FakeProvider() as provider:
        point_provider_at(app, provider.url)
        response = client.post(URL, json=example, headers=auth(demo.merchants[0]))
    assert response.status_code == 201, response.get_json()
