"""`make run` on a fresh instance folder: SQLite, in-process broker, sandbox, Swagger UI."""

import json

import pytest
import requests

from tests.support import processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded_service(tmp_path):
    with processes.make_run(tmp_path) as service:
        yield service


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
