"""Scenario 10: schemathesis against /openapi.json of the running production processes.

Every operation of the document is exercised (examples, coverage and fuzzing phases; the
stateful phase where the document has links), authenticated with a seeded X-API-Key, a bounded
number of cases per operation. The checks:
- not_a_server_error, allowing only 502/503 (SPEC's provider and outage answers); with
  status_code_conformance a 502/503 must also be documented for that operation;
- every response conforms to the document (status, content type, headers, body schema);
- invalid input is refused (negative_data_rejection); an operation that declares the API key
  refuses a request without it (ignored_auth).

schemathesis cannot sign the provider webhook, so a second test fuzzes it with Hypothesis
behind a valid signature (near-valid reports, arbitrary JSON, raw bytes): never a 5xx.

gunicorn's own 414 for an over-long request line is set aside (and counted) by
schemathesis_hooks.py: it is the server's answer, before the application runs.

The run writes its JSON report to test-output/reliability/schemathesis.json and its full output
(with a curl line reproducing each failure) to schemathesis.txt; the figures go to
test-output/reliability/fuzzing.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.helpers import FIGURES_DIR, assert_error_shape, record
from tests.support.stack import BIN, StackOptions

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(worker=False, schedulers=0)  # the API alone is under test


MAX_EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_MAX_EXAMPLES", "150"))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
]
CONFIG = """
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "502", "503"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "415", "422", "429"]
"""


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_schemathesis_finds_no_server_error_and_no_schema_violation(stack, tmp_path):
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    operations = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    report = FIGURES_DIR / "schemathesis.json"
    key = stack.credentials["merchants"][0]["api_key"]
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{stack.base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--header",
        f"X-API-Key: {key}",
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: hypothesis parses lambda sources with ast.parse, which on CPython 3.11 is
        # not thread-safe ("AST constructor recursion depth mismatch" with two workers).
        "--workers",
        "1",
        "--seed",
        "20261127",
        "--request-timeout",
        "15",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    set_aside = FIGURES_DIR / "schemathesis-set-aside.txt"
    set_aside.unlink(missing_ok=True)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py")),
        "RELIABILITY_FUZZ_SET_ASIDE": str(set_aside),
    }
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=env
    )
    seconds = time.monotonic() - started
    (FIGURES_DIR / "schemathesis.txt").write_text(result.stdout + result.stderr)
    summary = json.loads(report.read_text())

    cases = summary["test_cases"]
    record(
        "fuzzing",
        operations_in_document=len(operations),
        operations_tested=summary["operations"]["tested"],
        max_examples_per_operation=MAX_EXAMPLES,
        cases_generated=cases["generated"],
        cases_with_failures=cases["with_failures"],
        unique_failures=cases["unique_failures"],
        errors=len(summary["errors"]),
        set_aside_server_level_414=_lines(set_aside),
        seconds=round(seconds, 1),
        checks=CHECKS,
        lost=0,
        duplicated=0,
    )
    output = result.stdout[-12000:]
    assert summary["operations"]["tested"] == len(operations), output
    assert cases["generated"] >= 1000, output
    assert result.returncode == 0, output
    assert cases["with_failures"] == 0, output
    assert not summary["errors"], output


# --- behind the signature ------------------------------------------------------------------
# schemathesis cannot sign what it sends, so it only ever reaches the webhook's 401. Here
# Hypothesis generates bodies (near-valid reports, arbitrary JSON, raw bytes), each correctly
# signed, so the parsing and the state machine behind the signature are fuzzed too.

WEBHOOK_EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_WEBHOOK_EXAMPLES", "400"))
WEBHOOK_STATUSES = {200, 404, 409, 413, 415, 422}
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _reports(payment_ids: list[int]):
    identifiers = st.one_of(
        st.sampled_from(payment_ids), st.integers(), st.floats(), st.text(max_size=12), _json
    )
    statuses = st.one_of(
        st.sampled_from(["finished", "failed", "expired", "FINISHED", "pending", ""]),
        st.text(max_size=12),
        _json,
    )
    report = st.fixed_dictionaries({"payment_id": identifiers, "status": statuses})
    return st.one_of(
        report.map(lambda d: json.dumps(d).encode()),
        report.map(lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        _json.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
    )


def test_signed_provider_webhooks_never_fail_the_server(stack, service):
    merchant = service.merchant(0)
    payment_ids = [service.create(merchant, 900_000 + i).json()["payment_id"] for i in range(5)]
    seen: dict[int, int] = {}

    @settings(
        max_examples=WEBHOOK_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=_reports(payment_ids))
    def signed_report(body: bytes) -> None:
        response = service.provider_report(0, body=body)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in WEBHOOK_STATUSES, (body, response.status_code, response.text)
        assert response.headers["Content-Type"].startswith("application/json"), response.text
        if response.status_code >= 400:
            assert_error_shape(response, response.status_code)

    started = time.monotonic()
    signed_report()
    record(
        "fuzzing_signed_webhook",
        cases=sum(seen.values()),
        statuses=dict(sorted(seen.items())),
        seconds=round(time.monotonic() - started, 1),
        lost=0,
        duplicated=0,
    )
    assert seen.get(200), "some reports were valid and applied"
    assert seen.get(422), "malformed reports were refused"
