"""`gunicorn wsgi:app` as production runs it: several workers whose request metrics add up in
one scrape, JSON log lines (gunicorn's own included) without credentials, JSON errors for the
requests gunicorn itself refuses, and a wrong configuration refused by the master before any
worker starts."""

import json
import re
import socket
import subprocess
import sys
import threading
from collections import Counter
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import processes

pytestmark = pytest.mark.e2e

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
PING = "/api/v1/payments/ping"


@pytest.fixture(scope="module", params=["imported-per-worker", "preloaded"])
def api(request, app, settings_env, tmp_path_factory):
    """Two workers, each replaced after 25 requests (so several processes serve a burst, some
    of them gone by the time of the scrape), INFO logs, output captured to a file. Once as
    configured by default, once with the app preloaded in the master and forked."""
    port = processes.free_port()
    env = processes.clean_env(
        **{**settings_env, "LOG_LEVEL": "INFO"},
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        GUNICORN_MAX_REQUESTS="25",
        GUNICORN_PRELOAD="true" if request.param == "preloaded" else "false",
    )
    log_path = tmp_path_factory.mktemp("api") / "gunicorn.log"
    master = processes.start([GUNICORN, "wsgi:app"], env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until_up(f"{base}{PING}", master, log_path)
        yield base, log_path
    finally:
        processes.stop(master)


def _log_lines(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def _ping_count(base: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "payments_http_requests_total"
                and labels.get("route") == PING
                and labels.get("status") == "200"
            ):
                return sample.value
    return 0.0


def test_request_metrics_add_up_across_workers(api):
    base, log_path = api
    before = _ping_count(base)
    total = 60

    def burst():
        for _ in range(total // 6):
            assert requests.get(f"{base}{PING}", timeout=10).status_code == 200
        # The database too, from every process (a pool inherited from the master would break).
        health = requests.get(f"{base}/api/v1/payments/health", timeout=10)
        assert health.json()["checks"]["database"] == "ok", health.text

    threads = [threading.Thread(target=burst) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    served_by = Counter(
        line["pid"]
        for line in _log_lines(log_path)
        if line.get("logger") == "payments.access" and line.get("route") == PING
    )
    assert len(served_by) >= 3, f"several processes must have served pings: {served_by}"
    # Each scrape is answered by one live worker; each must see the count of every worker,
    # the ones max_requests has retired included.
    scrapes = {_ping_count(base) for _ in range(6)}
    assert scrapes == {before + total}, scrapes


def test_log_is_json_lines_with_request_ids_and_no_api_key(api):
    base, log_path = api
    api_key = "pk_" + "Q" * 43
    response = requests.get(
        f"{base}/api/v1/payments/health",
        headers={"X-Request-Id": "e2e-json-log-1", "X-API-Key": api_key},
        timeout=10,
    )
    assert response.headers["X-Request-Id"] == "e2e-json-log-1"

    text = log_path.read_text()
    lines = _log_lines(log_path)  # every line parses as JSON
    (request_line,) = [line for line in lines if line.get("request_id") == "e2e-json-log-1"]
    assert request_line["logger"] == "payments.access"
    assert request_line["route"] == "/api/v1/payments/health"
    assert request_line["status"] == response.status_code
    assert request_line["duration_ms"] > 0
    assert any(line["message"].startswith("Booting worker") for line in lines)
    assert api_key not in text


def _refused_start(tmp_path, **overrides) -> tuple[int, str]:
    env = processes.clean_env(GUNICORN_BIND=f"127.0.0.1:{processes.free_port()}", **overrides)
    env["INSTANCE_PATH"] = str(tmp_path)
    result = subprocess.run(
        [GUNICORN, "wsgi:app"],
        cwd=processes.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


# Requests gunicorn refuses before the application runs, and the status it refuses them with.
REFUSED_BY_GUNICORN = [
    pytest.param(
        b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long", id="line"
    ),
    pytest.param(
        b"GET /api/v1/payments/ping HTTP/1.1\r\nHost: x\r\nX-B\x01d: y\r\n\r\n",
        400,
        "bad_request",
        id="header",
    ),
    pytest.param(
        b"GET /api/v1/payments/ping HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request", id="version"
    ),
    pytest.param(
        b"GET /api/v1/payments/ping HTTP/1.1\r\n"
        + b"".join(b"X-H%d: v\r\n" % n for n in range(120))  # limit_request_fields: 100
        + b"\r\n",
        431,
        "request_header_fields_too_large",
        id="headers",
    ),
]


@pytest.mark.parametrize(("raw", "status", "code"), REFUSED_BY_GUNICORN)
def test_requests_gunicorn_refuses_get_a_json_error_in_specs_shape(api, raw, status, code):
    address = urlsplit(api[0])
    with socket.create_connection((address.hostname, address.port), timeout=10) as client:
        client.sendall(raw)
        answer = b""
        while chunk := client.recv(65536):  # gunicorn closes the connection after its answer
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in header_lines)
    }
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert int(headers["content-length"]) == len(body)
    document = json.loads(body)
    assert document["code"] == status
    assert document["status"] == HTTPStatus(status).phrase
    assert document["error"] == code
    assert document["message"]
    assert b"<html" not in body.lower()


def test_wrong_settings_stop_the_master_before_any_worker_with_one_line(tmp_path):
    code, output = _refused_start(
        tmp_path,
        PAYMENTS_DB_URL="postgresql://postgres@127.0.0.1:5432/payments",
        LOGS_DB_URL="postgresql://postgres@127.0.0.1:5432/another_database",
    )
    assert code != 0
    errors = [line for line in output.splitlines() if not line.startswith("{")]
    assert len(errors) == 1, output
    assert errors[0].startswith("payments: configuration error: LOGS_DB_URL")
    assert "Traceback" not in output
    assert "Booting worker" not in output


def test_wrong_gunicorn_setting_is_one_line_too(tmp_path):
    code, output = _refused_start(tmp_path, GUNICORN_THREADS="many")
    assert code != 0
    assert output.strip() == "gunicorn: GUNICORN_THREADS must be a whole number >= 1, got 'many'"
