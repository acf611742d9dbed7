"""Idempotency keys of payment creation, enforced by the database.

The (merchant, key) unique constraint is the lock: the first request inserts the row in the
transaction that creates the payment, so a concurrent twin waits on that insert, then finds the
committed row and answers 409 (still running) or the stored answer (done). A row is kept 24 hours.

What is stored: every answer given after work began (201, the 200 "already exists", a 502 whose
payment failed). A 400/402 is not stored: its transaction rolls back, the key row with it, so the
client can fix the cause (wrong alias, plan without tokens) and retry with the same key.

A row left `in_progress` by a process that died mid-request would block its key forever; once it
is older than the provider budget plus TAKEOVER_MARGIN_SECONDS another request takes it over and
finishes the work from the linked payment's state.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from payments.config import Settings
from payments.errors import IdempotencyKeyInUse, IdempotencyKeyMismatch, ServiceUnavailable
from payments.extensions import db
from payments.models import IdempotencyKey, utcnow

KEY_LIFETIME = timedelta(hours=24)
TAKEOVER_MARGIN_SECONDS = 10.0
IN_PROGRESS, COMPLETED = "in_progress", "completed"
_CLAIM_TRIES = 3


@dataclass(frozen=True)
class Claimed:
    """The key is ours, inserted (not yet committed) in the current transaction."""

    row: IdempotencyKey


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class TakenOver:
    """A stale in-progress key is ours now (committed); finish its payment's work."""

    key_id: int
    payment_id: int | None


def fingerprint(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical request (normalised values, sorted keys)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def claim(settings: Settings, merchant_id: int, key: str, request_hash: str):
    """Claimed, Replay or TakenOver; raises IdempotencyKeyMismatch or IdempotencyKeyInUse."""
    for _ in range(_CLAIM_TRIES):
        now = utcnow()
        row = db.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key
            )
        )
        if row is None:
            claimed = _insert(merchant_id, key, request_hash)
            if claimed is not None:
                return claimed
            continue
        if row.created_at <= now - KEY_LIFETIME:
            # Expired: forget it in this transaction, then claim the key afresh.
            db.session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.id == row.id, IdempotencyKey.created_at == row.created_at
                )
            )
            continue
        if row.request_hash != request_hash:
            raise IdempotencyKeyMismatch()
        if row.state == COMPLETED:
            return Replay(row.response_code or 200, row.response_body or {})
        taken = _take_over_if_stale(settings, row, now)
        if taken is not None:
            return taken
    raise ServiceUnavailable("The idempotency key is contended; retry shortly.")


def complete(
    key_id: int,
    status_code: int,
    body: dict[str, Any],
    payment_id: int | None,
    connection: Connection | None = None,
) -> None:
    """Store the final answer, in the transaction of `connection` (by default the session's)."""
    (connection or db.session).execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == key_id)
        .values(
            state=COMPLETED,
            response_code=status_code,
            response_body=body,
            payment_id=payment_id,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def release(key_id: int) -> None:
    """Forget a key whose work cannot go on (the client may use it again)."""
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == key_id))


def purge_expired(batch_size: int = 1000, now: datetime | None = None) -> int:
    """Delete up to `batch_size` keys older than 24 hours; returns how many (commits)."""
    threshold = (now or utcnow()) - KEY_LIFETIME
    ids = select(IdempotencyKey.id).where(IdempotencyKey.created_at <= threshold).limit(batch_size)
    result = db.session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(ids.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount


def _insert(merchant_id: int, key: str, request_hash: str) -> Claimed | None:
    row = IdempotencyKey(merchant_id=merchant_id, key=key, request_hash=request_hash)
    db.session.add(row)
    try:
        # Blocks while a concurrent twin's transaction holds the same key, then fails here.
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    return Claimed(row)


def _take_over_if_stale(settings: Settings, row: IdempotencyKey, now: datetime):
    stale_after = timedelta(seconds=settings.provider_timeout_seconds + TAKEOVER_MARGIN_SECONDS)
    until_stale = (row.updated_at + stale_after - now).total_seconds()
    if until_stale > 0:
        retry_after = max(1, math.ceil(min(until_stale, settings.provider_timeout_seconds)))
        raise IdempotencyKeyInUse(headers={"Retry-After": str(retry_after)})
    key_id, payment_id = row.id, row.payment_id
    # Only one of several requests finding the same stale row wins this conditional update.
    won = db.session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == row.id,
            IdempotencyKey.state == IN_PROGRESS,
            IdempotencyKey.updated_at == row.updated_at,
        )
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return TakenOver(key_id, payment_id) if won == 1 else None
