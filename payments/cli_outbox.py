"""`flask --app wsgi outbox stats|recover`: the operator's view of merchant notifications."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import click
from flask.cli import AppGroup

from payments.models import utcnow
from payments.services.outbox_admin import outbox_stats, recover_failed

outbox_cli = AppGroup("outbox", help="Inspect and recover merchant notifications (the outbox).")

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")


class Duration(click.ParamType):
    """`30m`, `2h`, `1d`, `90s`."""

    name = "duration"

    def convert(self, value, param, ctx) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration like 30m, 2h or 1d", param, ctx)
        amount, unit = match.groups()
        return timedelta(**{_UNITS[unit]: int(amount)})


@outbox_cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats_command(as_json: bool) -> None:
    """Notifications by status, how many are due, and the age of the oldest due one."""
    stats = outbox_stats()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "by_status": stats.by_status,
                    "due": stats.due,
                    "oldest_due_seconds": stats.oldest_due_seconds,
                }
            )
        )
        return
    for status, count in stats.by_status.items():
        click.echo(f"{status:<16}{count:>10}")
    oldest = "-" if stats.oldest_due_seconds is None else f"{stats.oldest_due_seconds:.1f}s"
    click.echo(f"{'due now':<16}{stats.due:>10}")
    click.echo(f"{'oldest due age':<16}{oldest:>10}")


@outbox_cli.command("recover")
@click.option(
    "--since",
    required=True,
    type=Duration(),
    help="Requeue LOG_FAILED notifications that failed within this window, e.g. 30m, 2h, 1d.",
)
def recover_command(since: timedelta) -> None:
    """Queue LOG_FAILED notifications again (fresh retry schedule)."""
    queued = recover_failed(utcnow() - since)
    click.echo(f"queued {queued} failed notification(s) for delivery again")
