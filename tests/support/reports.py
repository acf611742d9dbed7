"""Signed provider reports and the notification rows they leave behind, for the tests of the
webhook, the outbox and the sweep."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

from sqlalchemy import select, update

from payments.domain.statuses import EventType
from payments.extensions import db
from payments.models import Merchant, PaymentLog, utcnow

WEBHOOK = "/api/v1/payments/webhook"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def report_body(payment_id, status) -> bytes:
    return json.dumps({"payment_id": payment_id, "status": status}).encode()


def post_report(client, secret: str, payment_id, status, *, headers=None, content_type=None):
    """POST a correctly signed report through the Flask test client."""
    body = report_body(payment_id, status)
    all_headers = {"X-Internal-Signature": sign(secret, body), **(headers or {})}
    return client.post(WEBHOOK, data=body, headers=all_headers, content_type=content_type)


def notification_rows(payment_id: int | None = None) -> list[PaymentLog]:
    query = select(PaymentLog).where(PaymentLog.event_type == EventType.MERCHANT_NOTIFICATION)
    if payment_id is not None:
        query = query.where(PaymentLog.payment_id == payment_id)
    db.session.expire_all()
    return list(db.session.scalars(query.order_by(PaymentLog.id)))


def timeline(payment_id: int) -> list[PaymentLog]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(PaymentLog).where(PaymentLog.payment_id == payment_id).order_by(PaymentLog.id)
        )
    )


def point_merchant_at(merchant_id: int, url: str | None) -> str:
    """Set the merchant's callback URL; returns its webhook secret."""
    db.session.execute(update(Merchant).where(Merchant.id == merchant_id).values(callback_url=url))
    db.session.commit()
    return db.session.scalar(select(Merchant.webhook_secret).where(Merchant.id == merchant_id))


def expire_lease(log_id: int) -> None:
    """As if the worker holding the row's lease stalled past it: the lease ended a second ago,
    so the row is due again (the sweep or the fast path may take it over)."""
    past = utcnow() - timedelta(seconds=1)
    db.session.execute(
        update(PaymentLog)
        .where(PaymentLog.id == log_id)
        .values(lease_expires_at=past, next_retry_at=past)
    )
    db.session.commit()
