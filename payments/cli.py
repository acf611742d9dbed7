"""Flask CLI commands: `flask --app wsgi seed [--json]` (more groups register themselves here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from payments.cli_merchants import merchants_cli
from payments.cli_outbox import outbox_cli
from payments.services.seeding import SeedResult, seed_demo_data


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(merchants_cli)


@click.command("seed")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print the credentials document as JSON.")
def seed_command(as_json: bool) -> None:
    """Create the demo plans, merchants (with API keys) and providers, where missing."""
    from seeds.demo import MERCHANTS, PLANS, PROVIDERS

    result = seed_demo_data(PLANS, MERCHANTS, PROVIDERS)
    path = Path(current_app.instance_path) / "demo-credentials.json"
    _write_credentials(path, result)
    if as_json:
        click.echo(json.dumps(result.as_document(), indent=2))
        return
    _print_text(result, path)


def _write_credentials(path: Path, result: SeedResult) -> None:
    """Keys are shown once; the file keeps them for the developer (keys it already held stay)."""
    document = result.as_document()
    previous = _read_json(path)
    known = {m["id"]: m.get("api_key") for m in previous.get("merchants", []) if m.get("api_key")}
    for merchant in document["merchants"]:
        merchant["api_key"] = merchant["api_key"] or known.get(merchant["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _print_text(result: SeedResult, path: Path) -> None:
    click.echo("Demo data ready.")
    for merchant in result.merchants:
        key = merchant.api_key or f"(issued earlier; see {path})"
        click.echo(
            f"  merchant {merchant.id} {merchant.name}: X-API-Key {key}\n"
            f"    webhook secret {merchant.webhook_secret}"
            f"  subscription_id {merchant.subscription_id}"
        )
    click.echo("  providers: " + ", ".join(result.providers))
    if any(merchant.api_key for merchant in result.merchants):
        click.echo(f"New keys are shown only now; they are also in {path}.")
