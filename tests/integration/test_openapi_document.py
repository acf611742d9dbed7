"""The OpenAPI document as a merchant's developer reads it in Swagger UI: valid, complete (a
summary, a description and documented answers for every operation, a description and an example
for every field), its examples valid against its own schemas, its error examples in SPEC's shape,
and "Try it out" pointed at this service."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

METHODS = {"get", "post", "put", "patch", "delete"}
TAG_ORDER = ["Payments", "Notifications", "Provider webhooks", "Health"]
# flask-smorest registers this one for its own pagination, which no endpoint uses.
FOREIGN_SCHEMAS = {"PaginationMetadata"}
ERROR_KEYS = {"code", "status", "message", "error", "errors", "payment_id"}

# SPEC's answers per operation: status -> the machine codes documented for it.
SPEC_ERRORS = {
    ("post", "/api/v1/payments"): {
        400: {"provider_not_found", "subscription_not_found"},
        401: {"unauthorized"},
        402: {"subscription_exhausted"},
        403: {"merchant_mismatch"},
        409: {"idempotency_key_in_use"},
        413: {"payload_too_large"},
        415: {"unsupported_media_type"},
        422: {"validation_error", "idempotency_key_mismatch"},
        429: {"rate_limited"},
        502: {"provider_unreachable", "provider_error"},
    },
    ("get", "/api/v1/payments"): {401: {"unauthorized"}, 422: {"validation_error"}},
    ("get", "/api/v1/payments/{payment_id}"): {404: {"payment_not_found"}},
    ("get", "/api/v1/payments/{payment_id}/show"): {404: {"payment_not_found"}},
    ("get", "/api/v1/payments/{payment_id}/tracking"): {404: {"payment_not_found"}},
    ("post", "/api/v1/payments/{payment_id}/notifications/redeliver"): {
        401: {"unauthorized"},
        404: {"payment_not_found"},
    },
    ("post", "/api/v1/payments/webhook"): {
        401: {"invalid_signature"},
        404: {"payment_not_found"},
        409: {"invalid_transition"},
        422: {"validation_error"},
    },
}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").get_json()


@pytest.fixture(scope="module")
def registry(spec):
    return Registry().with_resource("urn:spec", Resource.from_contents(spec, DRAFT4))


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(spec, node):
    while "$ref" in node:
        _, *parts = node["$ref"].split("/")
        node = spec
        for part in parts:
            node = node[part]
    return node


def examples_of(media: dict) -> list:
    if "example" in media:
        return [media["example"]]
    return [example["value"] for example in media.get("examples", {}).values()]


def assert_valid(registry, schema, instance, where):
    ref = {"$ref": "urn:spec" + schema["$ref"]} if "$ref" in schema else schema
    errors = list(OAS30Validator(ref, registry=registry).iter_errors(instance))
    assert not errors, (where, instance, [error.message for error in errors])


def test_the_document_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_try_it_out_stays_on_this_service(spec):
    assert [server["url"] for server in spec["servers"]] == ["/"]


def test_tags_come_in_reading_order_with_descriptions(spec):
    assert [tag["name"] for tag in spec["tags"]] == TAG_ORDER
    assert all(tag["description"] for tag in spec["tags"])
    for method, path, operation in operations(spec):
        assert len(operation["tags"]) == 1, (method, path)
        assert operation["tags"][0] in TAG_ORDER, (method, path)


def test_every_operation_has_a_summary_a_description_and_an_id(spec):
    ids = []
    for method, path, operation in operations(spec):
        assert operation["summary"].strip(), (method, path)
        assert len(operation["description"]) > 40, (method, path)
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)) >= 9


def test_every_response_is_documented_with_a_schema_and_the_request_id(spec):
    for method, path, operation in operations(spec):
        assert any(code.startswith("2") for code in operation["responses"]), (method, path)
        for code, response in operation["responses"].items():
            response = resolve(spec, response)
            assert response["description"], (method, path, code)
            assert "schema" in response["content"]["application/json"], (method, path, code)
            if code != "default":
                assert "X-Request-Id" in response["headers"], (method, path, code)


def test_every_error_answer_of_spec_is_listed_with_its_examples(spec):
    for (method, path), expected in SPEC_ERRORS.items():
        responses = spec["paths"][path][method]["responses"]
        for status, codes in expected.items():
            media = resolve(spec, responses[str(status)])["content"]["application/json"]
            documented = {example["error"] for example in examples_of(media)}
            assert codes <= documented, (method, path, status, documented)
            for code in codes:
                assert code in responses[str(status)]["description"], (method, path, status)


def test_error_examples_have_specs_shape(spec, registry):
    for method, path, operation in operations(spec):
        for code, response in operation["responses"].items():
            if code == "default" or int(code) < 400:
                continue
            media = resolve(spec, response)["content"]["application/json"]
            examples = examples_of(media)
            assert examples, (method, path, code)
            for example in examples:
                if "checks" in example:  # health's 503 is its own report
                    continue
                assert set(example) <= ERROR_KEYS, (method, path, code)
                assert example["code"] == int(code)
                assert example["status"] == HTTPStatus(int(code)).phrase
                assert example["message"]
                assert example["error"]
                assert_valid(registry, media["schema"], example, (method, path, code))


def test_every_request_body_has_a_valid_example(spec, registry):
    bodies = 0
    for method, path, operation in operations(spec):
        if "requestBody" not in operation:
            continue
        media = operation["requestBody"]["content"]["application/json"]
        assert "example" in media, (method, path)
        assert_valid(registry, media["schema"], media["example"], (method, path))
        bodies += 1
    assert bodies == 2  # create, provider webhook


def test_every_field_has_a_description_and_an_example(spec, registry):
    for name, schema in spec["components"]["schemas"].items():
        if name in FOREIGN_SCHEMAS:
            continue
        for field, prop in schema["properties"].items():
            assert prop.get("description"), (name, field)
            if prop.get("type") == "array" or "$ref" in prop or "allOf" in prop:
                continue  # a list or a nested object: its own fields carry the examples
            assert "example" in prop, (name, field)
            assert_valid(registry, prop, prop["example"], (name, field))


def test_headers_are_documented(spec):
    headers = spec["components"]["headers"]
    for name in ("X-Request-Id", "Location", "Idempotent-Replayed", "Retry-After"):
        assert headers[name]["description"], name
    create = spec["paths"]["/api/v1/payments"]["post"]
    assert {"Location", "Idempotent-Replayed"} <= set(create["responses"]["201"]["headers"])
    assert "Idempotent-Replayed" in create["responses"]["200"]["headers"]
    assert "Retry-After" in create["responses"]["409"]["headers"]
    assert "Retry-After" in create["responses"]["429"]["headers"]
    (idempotency,) = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    assert idempotency["in"] == "header"
    assert "24 h" in idempotency["description"]
    # No example: Swagger UI would pre-fill it and refuse every edited body (422 mismatch).
    assert "example" not in idempotency


def test_merchant_operations_require_the_api_key_and_the_others_do_not(spec):
    scheme = spec["components"]["securitySchemes"]["ApiKeyAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    public = {"/api/v1/payments/ping", "/api/v1/payments/health", "/api/v1/payments/webhook"}
    for method, path, operation in operations(spec):
        expected = [] if path in public else [{"ApiKeyAuth": []}]
        assert operation.get("security", []) == expected, (method, path)


def test_the_introduction_walks_through_the_sandbox(spec):
    description = spec["info"]["description"]
    for text in ("Authorize", "POST /api/v1/payments", "order_id", "/sandbox/merchant", "Pay"):
        assert text in description


def test_swagger_ui_is_served_locally_and_keeps_the_key(client):
    page = client.get("/docs").get_data(as_text=True)
    assert '"persistAuthorization": true' in page
    assert '"validatorUrl": null' in page  # no badge fetched from validator.swagger.io
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "://" not in page  # no asset from elsewhere
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
