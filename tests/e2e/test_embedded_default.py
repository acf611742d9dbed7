"""`make run` on a fresh instance folder: SQLite, in-process broker, sandbox, Swagger UI."""

import json

import pytest
import requests

from tests.support import processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded_service(tmp_path):
    port = processes.free_port()
    env = processes.clean_env(INSTANCE_PATH=str(tmp_path / "instance"), PORT=str(port))
    log_path = tmp_path / "make-run.log"
    process = processes.start(["make", "--no-print-directory", "run"], env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until_up(f"{base}/api/v1/payments/ping", process, log_path)
        yield base, tmp_path / "instance", log_path
    finally:
        processes.stop(process)


def test_make_run_serves_ping_docs_and_prints_credentials(embedded_service):
    base, instance, log_path = embedded_service
    assert requests.get(f"{base}/api/v1/payments/ping", timeout=5).json() == {"ok": True}
    docs = requests.get(f"{base}/docs", timeout=5)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert requests.get(f"{base}/docs/assets/swagger-ui-bundle.js", timeout=5).status_code == 200
    health = requests.get(f"{base}/api/v1/payments/health", timeout=5).json()
    assert health["ok"] is True, health
    credentials = json.loads((instance / "demo-credentials.json").read_text())
    assert len(credentials["merchants"]) == 3
    output = log_path.read_text()
    assert credentials["merchants"][0]["api_key"] in output
    assert f"{base}/docs" in output
    assert (instance / "payments.db").exists()
