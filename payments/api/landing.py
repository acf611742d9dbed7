"""The home page at `/`: where everything is, and the quick start.

It exists in every deployment. The demo credentials (read from the instance's
demo-credentials.json, which `flask seed` writes) and the links to the sandbox pages appear only
when the sandbox is enabled, i.e. never in production unless someone turns the sandbox on.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, current_app, render_template

blp = Blueprint("landing", __name__)

CREDENTIALS_FILE = "demo-credentials.json"


@blp.app_context_processor
def _navigation() -> dict:
    return {"sandbox_enabled": current_app.extensions["payments_settings"].sandbox_enabled}


@blp.get("/")
def home():
    """The home page (HTML)."""
    settings = current_app.extensions["payments_settings"]
    merchants = demo_merchants(Path(current_app.instance_path)) if settings.sandbox_enabled else []
    return render_template(
        "landing.html",
        merchants=merchants,
        has_metrics="/metrics" in {rule.rule for rule in current_app.url_map.iter_rules()},
    )


def demo_merchants(instance_path: Path) -> list[dict]:
    """The demo merchants whose key is known, or [] (no file yet, or not readable)."""
    try:
        document = json.loads((instance_path / CREDENTIALS_FILE).read_text())
        merchants = document["merchants"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(merchants, list):
        return []
    return [m for m in merchants if isinstance(m, dict) and isinstance(m.get("api_key"), str)]
