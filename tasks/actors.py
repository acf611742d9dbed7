"""The actors. Each is thin: its docstring is its message contract, it calls one service.

Dramatiq's own retries are off: the outbox owns retries (schedule, lease, LOG_FAILED), and a
message is only a wake-up call, so a lost or duplicated one is harmless.
"""

from __future__ import annotations

import dramatiq
from flask import current_app

from payments.messaging import NOTIFY_ACTOR, NOTIFY_BATCH_ACTOR, SWEEP_ACTOR, broker_settings
from payments.services.notify import deliver_leased_batch, deliver_notification
from payments.services.sweep import run_sweep

_settings = broker_settings()

# The lease is renewed when the attempt starts, so an actor stopped a second before the lease
# ends can never be delivering while another worker, having reclaimed the row, delivers too.
NOTIFY_TIME_LIMIT_MS = int(max(1.0, _settings.notify_lease_seconds - 1) * 1000)
SWEEP_TIME_LIMIT_MS = 60_000
# Sweeps queued while no worker ran are stale: one fresh sweep does all their work.
SWEEP_MAX_AGE_MS = int(max(10.0, 5 * _settings.sweep_interval_seconds) * 1000)


@dramatiq.actor(
    actor_name=NOTIFY_ACTOR,
    queue_name=_settings.queue_name,
    max_retries=0,
    time_limit=NOTIFY_TIME_LIMIT_MS,
)
def notify_merchant(log_id: int, lease_token: str | None = None) -> None:
    """(log_id, lease_token | None): one delivery attempt of outbox row `log_id`. With a token
    (from the sweep) the lease must still be that one; without (fast path) the row is claimed
    only if due. A finished row or someone else's lease makes the message a no-op."""
    deliver_notification(current_app.extensions["payments_settings"], log_id, lease_token)


@dramatiq.actor(
    actor_name=NOTIFY_BATCH_ACTOR,
    queue_name=_settings.queue_name,
    max_retries=0,
    time_limit=NOTIFY_TIME_LIMIT_MS,
)
def notify_merchants(log_ids: list[int], lease_token: str) -> None:
    """(log_ids, lease_token): one delivery attempt for each outbox row of `log_ids`, leased
    together by a sweep under `lease_token` (each lease must still be that one). Rows there is
    no time left for within this message's time limit are sent on as a new message."""
    deliver_leased_batch(
        current_app.extensions["payments_settings"],
        log_ids,
        lease_token,
        NOTIFY_TIME_LIMIT_MS / 1000,
    )


@dramatiq.actor(
    actor_name=SWEEP_ACTOR,
    queue_name=_settings.sweep_queue_name,
    max_retries=0,
    time_limit=SWEEP_TIME_LIMIT_MS,
    max_age=SWEEP_MAX_AGE_MS,
)
def sweep_outbox() -> None:
    """(): one outbox sweep (expiry, abandoned payments, idempotency purge, due notifications).
    Concurrent sweeps are safe: every claim uses SKIP LOCKED."""
    run_sweep(current_app.extensions["payments_settings"])
