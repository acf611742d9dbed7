"""`flask --app wsgi merchants ...`: an operator's credential chores.

    merchants list [--json]
    merchants rotate-key <merchant_id> [--keep-old] [--json]
    merchants revoke-key <merchant_id> <key_id>
    merchants rotate-secret <merchant_id> [--keep-old] [--json]

A new API key is printed once (only its hash is stored); a new webhook secret is printed once
too. Keep the output safe.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup

from payments.errors import ServiceError
from payments.services import merchants as service

merchants_cli = AppGroup("merchants", help="List merchants; rotate API keys and webhook secrets.")


def _service_errors_exit(command):
    """A refused operation (unknown merchant or key) is a one-line error and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as error:
            raise click.ClickException(error.message) from None

    return wrapper


def _settings():
    return current_app.extensions["payments_settings"]


def _echo_json(document) -> None:
    click.echo(json.dumps(document, indent=2, default=_json_default))


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@merchants_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_command(as_json: bool) -> None:
    """Merchants with their API keys (ids and status only; keys are never stored)."""
    merchants = service.list_merchants()
    if as_json:
        _echo_json({"merchants": [asdict(merchant) for merchant in merchants]})
        return
    for merchant in merchants:
        callback = merchant.callback_url or "MERCHANT_CALLBACK_URL"
        click.echo(
            f"merchant {merchant.id} {merchant.name} <{merchant.email}> {merchant.status}, "
            f"callback {callback}"
        )
        for key in merchant.keys:
            line = f"  key {key.id} {key.status}, created {key.created_at:%Y-%m-%d %H:%M} UTC"
            if key.revoked_at is not None:
                line += f", revoked {key.revoked_at:%Y-%m-%d %H:%M} UTC"
            click.echo(line)


@merchants_cli.command("rotate-key")
@click.argument("merchant_id", type=int)
@click.option(
    "--keep-old",
    is_flag=True,
    help="Leave the current keys working too (a migration window); end it with revoke-key.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_service_errors_exit
def rotate_key_command(merchant_id: int, keep_old: bool, as_json: bool) -> None:
    """Issue a new API key for MERCHANT_ID, printed once; the old keys stop working now."""
    rotation = service.rotate_api_key(_settings(), merchant_id, keep_old=keep_old)
    if as_json:
        _echo_json(asdict(rotation))
        return
    click.echo(f"New API key {rotation.key_id} for merchant {merchant_id} {rotation.merchant_name}")
    click.echo(f"  X-API-Key: {rotation.api_key}")
    click.echo("  It is shown only now; only its hash is stored.")
    if rotation.revoked_key_ids:
        click.echo(f"  Revoked keys: {', '.join(map(str, rotation.revoked_key_ids))}.")
    if rotation.kept_key_ids:
        click.echo("  The old keys still work. Once the merchant uses the new one, revoke them:")
        for key_id in rotation.kept_key_ids:
            click.echo(f"    flask --app wsgi merchants revoke-key {merchant_id} {key_id}")


@merchants_cli.command("revoke-key")
@click.argument("merchant_id", type=int)
@click.argument("key_id", type=int)
@_service_errors_exit
def revoke_key_command(merchant_id: int, key_id: int) -> None:
    """Revoke API key KEY_ID of MERCHANT_ID at once."""
    service.revoke_api_key(_settings(), merchant_id, key_id)
    click.echo(f"API key {key_id} of merchant {merchant_id} is revoked.")


@merchants_cli.command("rotate-secret")
@click.argument("merchant_id", type=int)
@click.option(
    "--keep-old",
    is_flag=True,
    help="Sign notifications with the old secret too for 24 hours, while the merchant switches.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_service_errors_exit
def rotate_secret_command(merchant_id: int, keep_old: bool, as_json: bool) -> None:
    """Replace the webhook signing secret of MERCHANT_ID, printed once."""
    rotation = service.rotate_webhook_secret(merchant_id, keep_old=keep_old)
    if as_json:
        _echo_json(asdict(rotation))
        return
    click.echo(f"New webhook secret for merchant {merchant_id} {rotation.merchant_name}")
    click.echo(f"  {rotation.webhook_secret}")
    click.echo("  Notifications are signed with it from the next delivery attempt on.")
    if rotation.old_secret_signs_until is not None:
        until = rotation.old_secret_signs_until.isoformat(timespec="seconds")
        click.echo(f"  They also carry a signature with the old secret until {until}.")
