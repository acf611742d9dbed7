"""Operator actions on merchants' credentials: list merchants and their keys, issue a new API
key (revoking the old ones at once, or later), revoke one key, and replace the webhook secret
(dropping the old one at once, or signing with both for a day).

A new key or secret is returned once to be shown once; only the key's hash is stored. A revoked
key is also dropped from the auth cache, so it stops working now, not in 60 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from payments.config import Settings
from payments.domain.credentials import generate_api_key, generate_webhook_secret, hash_api_key
from payments.domain.statuses import RecordStatus
from payments.errors import NotFound
from payments.extensions import db
from payments.models import Merchant, MerchantApiKey, utcnow
from payments.services.auth import forget_cached_key

# How long a rotated-out webhook secret still signs notifications (`rotate-secret --keep-old`).
OLD_SECRET_GRACE = timedelta(hours=24)


class MerchantNotFound(NotFound):
    code, message = "merchant_not_found", "Merchant not found."


class ApiKeyNotFound(NotFound):
    code, message = "api_key_not_found", "No such API key for this merchant."


@dataclass(frozen=True)
class KeyInfo:
    id: int
    status: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class MerchantInfo:
    id: int
    name: str
    email: str
    status: str
    callback_url: str | None
    keys: list[KeyInfo]


@dataclass(frozen=True)
class KeyRotation:
    merchant_id: int
    merchant_name: str
    key_id: int
    api_key: str  # shown once, never stored
    revoked_key_ids: list[int]
    kept_key_ids: list[int]


@dataclass(frozen=True)
class SecretRotation:
    merchant_id: int
    merchant_name: str
    webhook_secret: str
    # Until when notifications are signed with the old secret too (None: the old one is dropped).
    old_secret_signs_until: datetime | None = None


def list_merchants() -> list[MerchantInfo]:
    session = db.session
    try:
        merchants = session.scalars(select(Merchant).order_by(Merchant.id)).all()
        keys = session.scalars(select(MerchantApiKey).order_by(MerchantApiKey.id)).all()
        by_merchant: dict[int, list[KeyInfo]] = {}
        for key in keys:
            by_merchant.setdefault(key.merchant_id, []).append(
                KeyInfo(key.id, key.status, key.created_at, key.revoked_at)
            )
        return [
            MerchantInfo(m.id, m.name, m.email, m.status, m.callback_url, by_merchant.get(m.id, []))
            for m in merchants
        ]
    finally:
        session.rollback()


def rotate_api_key(settings: Settings, merchant_id: int, *, keep_old: bool = False) -> KeyRotation:
    """A new active key. The merchant's other active keys are revoked in the same transaction,
    unless keep_old: then both work until `revoke_api_key` ends the migration window."""
    session = db.session
    try:
        merchant = _lock_merchant(merchant_id)
        active = session.scalars(
            select(MerchantApiKey).where(
                MerchantApiKey.merchant_id == merchant_id,
                MerchantApiKey.status == RecordStatus.ACTIVE,
            )
        ).all()
        revoked = [] if keep_old else list(active)
        for key in revoked:
            _revoke(key)
        api_key = generate_api_key()
        new_key = MerchantApiKey(merchant_id=merchant_id, key_hash=hash_api_key(api_key))
        session.add(new_key)
        session.flush()
        rotation = KeyRotation(
            merchant_id=merchant.id,
            merchant_name=merchant.name,
            key_id=new_key.id,
            api_key=api_key,
            revoked_key_ids=[key.id for key in revoked],
            kept_key_ids=[key.id for key in active] if keep_old else [],
        )
        revoked_hashes = [key.key_hash for key in revoked]
        session.commit()
    except Exception:
        session.rollback()
        raise
    _forget(settings, revoked_hashes)
    return rotation


def revoke_api_key(settings: Settings, merchant_id: int, key_id: int) -> None:
    """Revoke one key (the old one, once a migration window with --keep-old is over)."""
    session = db.session
    try:
        _lock_merchant(merchant_id)
        key = session.scalar(
            select(MerchantApiKey).where(
                MerchantApiKey.id == key_id, MerchantApiKey.merchant_id == merchant_id
            )
        )
        if key is None:
            raise ApiKeyNotFound(f"Merchant {merchant_id} has no API key {key_id}.")
        if key.status == RecordStatus.ACTIVE:
            _revoke(key)
        key_hash = key.key_hash
        session.commit()
    except Exception:
        session.rollback()
        raise
    _forget(settings, [key_hash])


def rotate_webhook_secret(merchant_id: int, keep_old: bool = False) -> SecretRotation:
    """A new Standard Webhooks secret; every delivery attempt from now on is signed with it.
    With `keep_old`, for OLD_SECRET_GRACE also with the secret it replaces (the
    `webhook-signature` header then holds both signatures, which Standard Webhooks verifiers
    accept with either secret), so the merchant can switch at leisure."""
    session = db.session
    try:
        merchant = _lock_merchant(merchant_id)
        if keep_old:
            merchant.previous_webhook_secret = merchant.webhook_secret
            merchant.previous_webhook_secret_until = utcnow() + OLD_SECRET_GRACE
        else:
            merchant.previous_webhook_secret = None
            merchant.previous_webhook_secret_until = None
        merchant.webhook_secret = generate_webhook_secret()
        rotation = SecretRotation(
            merchant.id,
            merchant.name,
            merchant.webhook_secret,
            merchant.previous_webhook_secret_until,
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return rotation


def _lock_merchant(merchant_id: int) -> Merchant:
    # Serialises rotations of one merchant: two at once could otherwise each keep a key alive.
    merchant = db.session.scalar(
        select(Merchant).where(Merchant.id == merchant_id).with_for_update()
    )
    if merchant is None:
        raise MerchantNotFound(f"Merchant {merchant_id} not found.")
    return merchant


def _revoke(key: MerchantApiKey) -> None:
    key.status = RecordStatus.INACTIVE
    key.revoked_at = utcnow()


def _forget(settings: Settings, key_hashes: list[str]) -> None:
    # After the commit: a request between a forget and the commit could cache the old key again.
    for key_hash in key_hashes:
        forget_cached_key(settings, key_hash)
