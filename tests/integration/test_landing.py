"""The home page at `/`: always there; the demo credentials and the sandbox links only with the
sandbox enabled, read from the instance's demo-credentials.json."""

from __future__ import annotations

import json

import pytest

from payments import create_app

KEY = "pk_demo_key_for_the_landing_test"
SECRET = "whsec_c2VjcmV0IG9mIHRoZSBsYW5kaW5nIHRlc3QgMDAwMDA="


def _client(settings, instance, sandbox: bool):
    app = create_app(
        settings.model_copy(update={"instance_path": instance, "sandbox_enabled_setting": sandbox})
    )
    return app.test_client()


def _write_credentials(instance, merchants) -> None:
    instance.mkdir(parents=True, exist_ok=True)
    document = {"merchants": merchants, "providers": [{"alias": "stripe"}]}
    (instance / "demo-credentials.json").write_text(json.dumps(document))


def _merchant(merchant_id, name, api_key):
    return {
        "id": merchant_id,
        "name": name,
        "api_key": api_key,
        "webhook_secret": SECRET,
        "subscription_id": 1,
    }


def test_with_the_sandbox_the_home_page_has_links_quick_start_and_demo_keys(settings, tmp_path):
    _write_credentials(tmp_path, [_merchant(1, "Demo", KEY), _merchant(2, "Test", None)])
    page = _client(settings, tmp_path, sandbox=True).get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for text in ('href="/docs"', 'href="/openapi.json"', 'href="/sandbox/merchant"', "Quick start"):
        assert text in html
    assert KEY in html
    assert SECRET in html
    assert "Demo" in html
    assert "Test" not in html  # its key was issued earlier and is not in the file


def test_without_the_sandbox_there_are_no_credentials_nor_sandbox_links(settings, tmp_path):
    _write_credentials(tmp_path, [_merchant(1, "Demo", KEY)])
    client = _client(settings, tmp_path, sandbox=False)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/docs"' in html
    assert KEY not in html
    assert SECRET not in html
    assert "/sandbox/" not in html
    description = client.get("/openapi.json").get_json()["info"]["description"]
    assert "/sandbox/" not in description
    assert "Authorize" in description


@pytest.mark.parametrize("content", [None, "{not json", '{"merchants": 3}', "[]"])
def test_a_missing_or_unreadable_credentials_file_is_a_hint(settings, tmp_path, content):
    if content is not None:
        (tmp_path / "demo-credentials.json").write_text(content)
    page = _client(settings, tmp_path, sandbox=True).get("/")
    assert page.status_code == 200
    assert "No demo credentials" in page.get_data(as_text=True)
