"""The periodic sweep: the safety net under every fast path.

Each run (a few bounded batches, so one sweep never runs long; safe to run twice at once):
1. expires pending payments whose link ran out (PAYMENT_EXPIRED + a merchant notification);
2. fails pending payments that never got a link because their creation crashed
   (PAYMENT_FAILED, token given back; no notification: SPEC notifies a failure only when the
   provider reports it);
3. purges idempotency records older than 24 hours;
4. leases the notifications that are due (new, retry due, or lease run out) and wakes the
   notify actor, SEND_BATCH rows to a message: claim after claim while they come back full,
   the workers keep up (the notify queue is short) and the run is young. A backlog (10,000
   notifications stranded by a broker outage) drains as fast as the workers deliver, not one
   claim per interval, and never faster: a row waiting in the queue longer than its lease
   would be claimed again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select

from payments import messaging
from payments.config import Settings
from payments.domain.statuses import EventType, PaymentStatus
from payments.extensions import db
from payments.models import IdempotencyKey, Payment, utcnow
from payments.services import outbox
from payments.services.quota import refund_token
from payments.services.timeline import record_event

log = logging.getLogger(__name__)

EXPIRE_BATCH = 200
ABANDON_BATCH = 200
PURGE_BATCH = 1000
CLAIM_BATCH = 500
# Claimed rows go to the workers this many to a message (each lease still renewed per row).
SEND_BATCH = 20
# Another claim only while the notify queue holds fewer messages than this (at most
# QUEUE_AHEAD x SEND_BATCH rows: a few seconds of work for the workers, far inside any lease)
# and the run is younger than CLAIM_SECONDS.
QUEUE_AHEAD = 50
CLAIM_SECONDS = 1.0
IDEMPOTENCY_TTL = timedelta(hours=24)
# How long past the provider's time budget a linkless payment is surely abandoned: the creating
# request (or a retry that took its idempotency key over) has long answered by then. Generous,
# because a token given back a few minutes late costs nothing.
ABANDON_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class SweepReport:
    expired: int
    abandoned: int
    purged: int
    claimed: int
    sent: int


def run_sweep(settings: Settings) -> SweepReport:
    expired = expire_payments(settings)
    abandoned = abandon_linkless_payments(settings)
    purged = purge_idempotency_keys()
    claimed, sent = claim_and_send(settings)
    report = SweepReport(expired, abandoned, purged, claimed, sent)
    if any((expired, abandoned, purged, claimed)):
        log.info("sweep", extra=report.__dict__)
    return report


def claim_and_send(settings: Settings) -> tuple[int, int]:
    """Lease due notifications and wake the batch notify actor for them: (claimed, sent)."""
    deadline = time.monotonic() + CLAIM_SECONDS
    claimed = sent = 0
    while True:
        leases = outbox.claim_due(settings, CLAIM_BATCH)
        claimed += len(leases)
        for batch in _batches(leases):
            if not messaging.send_notify_batch([lease.log_id for lease in batch], batch[0].token):
                # Broker down: the leases run out and a later sweep claims them again.
                return claimed, sent
            sent += len(batch)
        if len(leases) < CLAIM_BATCH or time.monotonic() >= deadline:
            return claimed, sent
        backlog = messaging.notify_backlog()
        if backlog is None or backlog >= QUEUE_AHEAD:
            return claimed, sent


def _batches(leases: list[outbox.Lease]) -> list[list[outbox.Lease]]:
    """Up to SEND_BATCH leases of one token each (a claim leases all its rows with one)."""
    batches: list[list[outbox.Lease]] = []
    for lease in leases:
        if batches and len(batches[-1]) < SEND_BATCH and batches[-1][0].token == lease.token:
            batches[-1].append(lease)
        else:
            batches.append([lease])
    return batches


def expire_payments(settings: Settings, now: datetime | None = None) -> int:
    """Pending payments past their link's expiry (or, without one, past PAYMENT_LINK_TTL)."""
    now = now or utcnow()
    ttl_ago = now - timedelta(seconds=settings.payment_link_ttl_seconds)
    count = _expire_where(Payment.expires_at < now, now)
    count += _expire_where(
        Payment.expires_at.is_(None)
        & Payment.payment_url.is_not(None)
        & (Payment.created_at < ttl_ago),
        now,
    )
    return count


def _expire_where(condition: ColumnElement[bool], now: datetime) -> int:
    payments = _lock_pending(condition, EXPIRE_BATCH)
    for payment in payments:
        payment.status = PaymentStatus.EXPIRED
        record_event(
            payment.id,
            EventType.PAYMENT_EXPIRED,
            "the payment link expired before the customer paid",
            {"expires_at": payment.expires_at.isoformat() if payment.expires_at else None},
        )
        # No request caused this: the merchant can trace it to the one that created the payment.
        outbox.add_notification(payment, now, request_id=payment.request_id)
    db.session.commit()
    return len(payments)


def abandon_linkless_payments(settings: Settings, now: datetime | None = None) -> int:
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.provider_timeout_seconds) - ABANDON_MARGIN
    payments = _lock_pending(
        Payment.payment_url.is_(None) & (Payment.created_at < cutoff), ABANDON_BATCH
    )
    for payment in payments:
        payment.status = PaymentStatus.FAILED
        record_event(
            payment.id,
            EventType.PAYMENT_ABANDONED,
            "the payment never got a provider link (its creation did not finish)",
        )
        refund_token(payment.user_subscription_id)
        record_event(payment.id, EventType.TOKEN_REFUNDED, "subscription token given back")
    db.session.commit()
    return len(payments)


def _lock_pending(condition: ColumnElement[bool], limit: int) -> list[Payment]:
    """Pending payments matching `condition`, row-locked; rows another transaction holds (a
    provider report being applied, a concurrent sweep) are skipped, not waited for."""
    # FOR UPDATE re-checks the condition on the row it locks, so each one is still pending.
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.status == PaymentStatus.PENDING, condition)
            .order_by(Payment.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).all()
    )


def purge_idempotency_keys(now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - IDEMPOTENCY_TTL
    old = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < cutoff)
        .order_by(IdempotencyKey.created_at)
        .limit(PURGE_BATCH)
    )
    purged = db.session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(old))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return purged
