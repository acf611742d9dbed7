"""Scenario 11: security properties of the running production processes.

- Tenant isolation: every merchant endpoint, called by another merchant, answers exactly as for
  an unknown id (404), leaks nothing into lists, and triggers nothing.
- Provider webhooks: a missing, tampered, foreign-secret or replayed-with-another-body
  signature is refused (401) and changes nothing.
- API keys are never stored or logged in clear: not in any table, not in Redis, not in any
  log line of the API, worker or scheduler (hashes only).
- Bodies over 64 KiB get a JSON 413, with or without Content-Length.
- A merchant callback URL that is not http(s) is never used to deliver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess

import pytest
import redis
import requests

from tests.reliability.helpers import assert_error_shape, record, wait_until
from tests.support.processes import PROJECT_ROOT
from tests.support.stack import BIN, REDIS_PORT

pytestmark = pytest.mark.reliability

UNKNOWN_ID = 987_654_321


@pytest.fixture(scope="module")
def owned(stack, service, orders):
    """One finished payment of merchant 0 (notified), the victim of the isolation matrix."""
    owner = service.merchant(0)
    created = service.create(owner, orders.one())
    assert created.status_code == 201, created.text
    payment_id = created.json()["payment_id"]
    assert service.provider_report(payment_id, "finished").status_code == 200
    wait_until(lambda: payment_id in stack.merchant.delivered_payments(), 30, what="delivered")
    return payment_id


def _isolation_cases(payment_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/{payment_id}/show"),
        ("GET", f"/{payment_id}"),
        ("GET", f"/{payment_id}/tracking"),
        ("POST", f"/{payment_id}/notifications/redeliver"),
    ]


def _call(service, merchant, method, path):
    if method == "GET":
        return service.get(merchant, path)
    return service.post(merchant, path)


def _without_ids(body: dict) -> dict:
    return {k: re.sub(r"\d+", "<n>", v) if isinstance(v, str) else v for k, v in body.items()}


def test_tenant_isolation_matrix(stack, service, owned):
    owner = service.merchant(0)
    deliveries_before = len(stack.merchant.snapshot())
    matrix = []
    for method, path in _isolation_cases(owned):
        own = _call(service, owner, method, path)
        assert own.status_code in (200, 202), (path, own.text)
        for index in (1, 2):
            other = service.merchant(index)
            foreign = _call(service, other, method, path)
            unknown = _call(service, other, method, path.replace(str(owned), str(UNKNOWN_ID)))
            matrix.append((method, path, index, foreign.status_code))
            assert_error_shape(foreign, 404)
            assert_error_shape(unknown, 404)
            assert _without_ids(foreign.json()) == _without_ids(unknown.json()), (path, foreign)
    for index in (1, 2):
        other = service.merchant(index)
        listed = service.get(other, "", page=1, limit=100)
        assert listed.status_code == 200
        assert owned not in [item["payment_id"] for item in listed.json()["items"]]
    # The owner's own redeliver above queued one delivery; the others' queued none.
    wait_until(lambda: len(stack.merchant.snapshot()) >= deliveries_before + 1, 20)
    redelivered = stack.merchant.snapshot()[deliveries_before:]
    assert {d.merchant_id for d in redelivered} == {owner["id"]}
    assert len({d.payment_id for d in redelivered}) == 1
    record(
        "tenant_isolation",
        endpoints=len(_isolation_cases(owned)) + 1,
        cross_tenant_calls=len(matrix),
        answered_404=sum(1 for *_, status in matrix if status == 404),
        lost=0,
        duplicated=0,
    )


def test_authentication_is_required_and_consistent(stack, service):
    session, base = service.session, f"{stack.base_url}/api/v1/payments"
    merchant = service.merchant(0)
    assert_error_shape(session.get(base, timeout=10), 401, "unauthorized")
    bogus = {"X-API-Key": "not-a-key-" + "x" * 40}
    assert_error_shape(session.get(base, headers=bogus, timeout=10), 401, "unauthorized")
    mismatch = {"X-API-Key": merchant["api_key"], "X-Merchant-Id": str(merchant["id"] + 1)}
    assert_error_shape(session.get(base, headers=mismatch, timeout=10), 403, "merchant_mismatch")


def test_provider_webhook_signatures(stack, service, orders):
    merchant = service.merchant(1)
    target, other = (service.create(merchant, orders.one()).json()["payment_id"] for _ in range(2))
    signed = json.dumps({"payment_id": target, "status": "finished"}).encode()
    valid = service.signature(signed)
    foreign_secret = hmac.new(b"some-other-secret-0123456789", signed, hashlib.sha256).hexdigest()
    other_body = json.dumps({"payment_id": other, "status": "finished"}).encode()
    refused = {
        "missing": service.provider_report(target, body=signed, signature=""),
        "garbage": service.provider_report(target, body=signed, signature="zz" * 32),
        "foreign_secret": service.provider_report(target, body=signed, signature=foreign_secret),
        "tampered_status": service.provider_report(
            target, body=signed.replace(b"finished", b"failed"), signature=valid
        ),
        "replayed_other_body": service.provider_report(other, body=other_body, signature=valid),
        "reformatted_body": service.provider_report(
            target,
            body=json.dumps({"status": "finished", "payment_id": target}).encode(),
            signature=valid,
        ),
    }
    for name, response in refused.items():
        assert response.status_code == 401, (name, response.text)
        assert_error_shape(response, 401)
    statuses = dict(
        stack.sql("SELECT id, status FROM payments WHERE id IN (%s, %s)", target, other)
    )
    assert statuses == {target: "PAYMENT_PENDING", other: "PAYMENT_PENDING"}, "nothing changed"

    accepted = service.provider_report(target, body=signed, signature=valid)
    assert accepted.status_code == 200, accepted.text
    again = service.provider_report(target, body=signed, signature=valid)
    assert again.status_code == 200
    assert again.json() == {"message": "already processed"}
    replay_other = service.provider_report(other, body=other_body, signature=valid)
    assert replay_other.status_code == 401
    record(
        "webhook_signatures",
        forged_requests=len(refused) + 1,
        refused_401=len(refused) + 1,
        state_changes_from_forgeries=0,
        lost=0,
        duplicated=0,
    )


@pytest.mark.parametrize(
    ("field", "raw_json"),
    [
        ("event_id", '"a\\u0000b"'),
        ("event_id", '"a\\ud9c4b"'),
        ("alias", '"stripe\\u0000"'),
        ("alias", '"\\udfff"'),
    ],
)
def test_strings_postgresql_cannot_store_get_422(stack, service, orders, field, raw_json):
    """NUL and unpaired surrogates (legal JSON escapes) once reached psycopg2: a 500."""
    merchant = service.merchant(0)
    fields = {k: v for k, v in service.payment_body(merchant, orders.one()).items() if k != field}
    body = json.dumps(fields)[:-1] + f', "{field}": {raw_json}}}'  # the escape kept verbatim
    response = service.session.post(
        f"{stack.base_url}/api/v1/payments",
        data=body.encode(),
        headers={**service.headers(merchant), "Content-Type": "application/json"},
        timeout=15,
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert field in error["errors"], error


def _chunks(body: bytes):
    """A generator body: requests sends it chunked, without Content-Length."""
    return (body[i : i + 8192] for i in range(0, len(body), 8192))


def test_oversized_bodies_get_a_json_413(stack, service):
    merchant = service.merchant(0)
    big = b'{"order_id": 1, "pad": "' + b"x" * (65 * 1024) + b'"}'
    url = f"{stack.base_url}/api/v1/payments"
    webhook_url = f"{url}/webhook"
    headers = {**service.headers(merchant), "Content-Type": "application/json"}
    signed = {"Content-Type": "application/json", "X-Internal-Signature": service.signature(big)}
    # A fresh connection each: after a 413 the server may close a connection whose body it did
    # not read, and a pooled one would then fail the next request instead of this one.
    post = requests.post
    answers = {
        "create": post(url, data=big, headers=headers, timeout=15),
        "create_chunked": post(url, data=_chunks(big), headers=headers, timeout=15),
        "webhook": post(webhook_url, data=big, headers=signed, timeout=15),
        "webhook_chunked": post(webhook_url, data=_chunks(big), headers=signed, timeout=15),
    }
    for name, response in answers.items():
        assert response.status_code == 413, (name, response.text[:300])
        assert_error_shape(response, 413)
    small = json.dumps(service.payment_body(merchant, 10_000_001)).encode()
    normal = service.session.post(url, data=_chunks(small), headers=headers, timeout=15)
    assert normal.status_code == 201, ("a normal chunked body still works", normal.text)
    record(
        "body_limit",
        oversized_requests=len(answers),
        answered_413=sum(1 for r in answers.values() if r.status_code == 413),
        lost=0,
        duplicated=0,
    )


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:1/"]
)
def test_non_http_callback_urls_are_never_used(stack, service, orders, url):
    merchant = service.merchant(2)
    stack.sql("UPDATE merchants SET callback_url = %s WHERE id = %s", url, merchant["id"])
    try:
        payment_id = service.create(merchant, orders.one()).json()["payment_id"]
        assert service.provider_report(payment_id).status_code == 200
        wait_until(lambda: _notification(stack, payment_id)[0] == "LOG_FAILED", 30, 0.2, "given up")
        status, attempts, code, error = _notification(stack, payment_id)
        assert code is None
        assert "http" in error, error
        assert not stack.merchant.attempts_for(payment_id)
    finally:
        stack.sql("UPDATE merchants SET callback_url = NULL WHERE id = %s", merchant["id"])
    # With a proper URL again, redeliver brings it home.
    redeliver = service.post(merchant, f"/{payment_id}/notifications/redeliver")
    assert redeliver.status_code == 202
    wait_until(lambda: payment_id in stack.merchant.delivered_payments(), 20, what="redelivered")
    record(
        f"callback_scheme_{url.split(':')[0]}",
        callback_url=url,
        final_status=status,
        attempts=attempts,
        last_error=error,
        lost=0,
        duplicated=0,
    )


# Last in the module: every earlier test has added to the logs it inspects.
def test_api_keys_are_never_stored_or_logged_in_clear(stack, service, owned):
    keys = [m["api_key"] for m in stack.credentials["merchants"]]
    assert all(keys)
    bogus = "bogus-key-" + "q" * 43
    service.session.get(f"{stack.base_url}/api/v1/payments", headers={"X-API-Key": bogus})
    secrets_in_clear = [*keys, bogus, stack.webhook_secret]
    table_names = [
        row[0] for row in stack.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    found_in_db = []
    for table in table_names:
        # table names come from pg_tables, not from input
        query = f'SELECT row_to_json(t)::text FROM "{table}" t'  # noqa: S608
        dump = "".join(row[0] for row in stack.sql(query))
        found_in_db += [(table, s[:12]) for s in secrets_in_clear if s in dump]
    stored_hashes = {row[0] for row in stack.sql("SELECT key_hash FROM merchant_api_keys")}
    assert {hashlib.sha256(k.encode()).hexdigest() for k in keys} <= stored_hashes

    client = redis.Redis(host="127.0.0.1", port=REDIS_PORT)
    found_in_redis = []
    for name in client.scan_iter(match=f"{stack.redis_prefix}*", count=500):
        value = client.dump(name) or b""
        found_in_redis += [s[:12] for s in secrets_in_clear if s.encode() in name + value]
    client.close()

    logs = {path.name: path.read_text(errors="replace") for path in stack.log_files()}
    log_bytes = sum(len(text) for text in logs.values())
    found_in_logs = [
        (name, s[:12]) for name, text in logs.items() for s in secrets_in_clear if s in text
    ]
    record(
        "secrets_at_rest",
        tables_inspected=len(table_names),
        log_files_inspected=len(logs),
        log_bytes_inspected=log_bytes,
        found_in_database=found_in_db,
        found_in_redis=found_in_redis,
        found_in_logs=found_in_logs,
        lost=0,
        duplicated=0,
    )
    assert log_bytes > 1000, "the processes logged something to inspect"
    assert not found_in_db
    assert not found_in_redis
    assert not found_in_logs


def test_a_non_http_merchant_callback_url_is_refused_at_start(stack):
    env = {**stack.env("api"), "MERCHANT_CALLBACK_URL": "file:///etc/passwd"}
    started = subprocess.run(
        [str(BIN / "gunicorn"), "--check-config", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "MERCHANT_CALLBACK_URL must be an http:// or https:// URL" in started.stderr


def _notification(stack, payment_id):
    rows = stack.sql(
        "SELECT status, attempts, last_response_code, last_error FROM payment_logs"
        " WHERE payment_id = %s AND event_type = 'EVENT_MERCHANT_NOTIFICATION_SENT'",
        payment_id,
    )
    return rows[0] if rows else (None, None, None, None)
