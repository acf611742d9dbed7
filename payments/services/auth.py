"""Who is calling: a merchant identified by its API key (hash lookup, cached up to 60 s) or, behind
a gateway, by the X-Merchant-Id the gateway sets. Keys are looked up and cached only as hashes."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import bindparam, select

from payments.config import Settings
from payments.database import statement_by_statement
from payments.domain.credentials import hash_api_key
from payments.domain.statuses import RecordStatus
from payments.errors import MerchantMismatch, Unauthorized
from payments.extensions import db, redis_store
from payments.models import Merchant, MerchantApiKey

log = logging.getLogger(__name__)

CACHE_TTL_SECONDS = 60
MAX_API_KEY_LENGTH = 256


# Built once. Each runs in autocommit on a connection that goes back to the pool at once, so
# authentication holds no connection or transaction while the request does its own work.
_ACTIVE_MERCHANT = select(Merchant.id).where(
    Merchant.id == bindparam("merchant_id"), Merchant.status == RecordStatus.ACTIVE
)
_MERCHANT_OF_KEY = (
    select(MerchantApiKey.merchant_id)
    .join(Merchant, Merchant.id == MerchantApiKey.merchant_id)
    .where(
        MerchantApiKey.key_hash == bindparam("key_hash"),
        MerchantApiKey.status == RecordStatus.ACTIVE,
        Merchant.status == RecordStatus.ACTIVE,
    )
)


def authenticate(settings: Settings, api_key: str | None, merchant_id_header: str | None) -> int:
    """The id of the calling merchant, or Unauthorized / MerchantMismatch."""
    if settings.auth_mode == "gateway":
        return _gateway_merchant(merchant_id_header)
    if not api_key or len(api_key) > MAX_API_KEY_LENGTH:
        raise Unauthorized("Missing or unknown X-API-Key.")
    merchant_id = _merchant_for_key(settings, hash_api_key(api_key))
    if merchant_id is None:
        raise Unauthorized("Missing or unknown X-API-Key.")
    if merchant_id_header is not None and merchant_id_header.strip() != str(merchant_id):
        raise MerchantMismatch()
    return merchant_id


def _gateway_merchant(header: str | None) -> int:
    value = (header or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise Unauthorized("Missing or malformed X-Merchant-Id.")
    merchant_id = int(value)
    with statement_by_statement(db.engine) as connection:
        active = connection.scalar(_ACTIVE_MERCHANT, {"merchant_id": merchant_id})
    if active is None:
        raise Unauthorized("Unknown X-Merchant-Id.")
    return merchant_id


def _merchant_for_key(settings: Settings, key_hash: str) -> int | None:
    cache_key = f"{settings.redis_key_prefix}auth:{key_hash}"
    cached = _cache_get(cache_key)
    if cached is not None:
        return cached
    with statement_by_statement(db.engine) as connection:
        merchant_id = connection.scalar(_MERCHANT_OF_KEY, {"key_hash": key_hash})
    if merchant_id is not None:
        _cache_set(cache_key, merchant_id)
    return merchant_id


def forget_cached_key(settings: Settings, key_hash: str) -> None:
    """Drop a key from the cache at once (used when a key is revoked)."""
    cache_key = f"{settings.redis_key_prefix}auth:{key_hash}"
    _local_cache.pop(cache_key)
    if redis_store.client is not None:
        try:
            redis_store.client.delete(cache_key)
        except Exception:
            log.warning("could not drop a revoked key from the Redis cache", exc_info=True)


class _LocalTTLCache:
    """The in-process stand-in for Redis (REDIS_URL unset: development only)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> int | None:
        with self._lock:
            expires, value = self._items.get(key, (0.0, None))
            return value if expires > time.monotonic() else None

    def set(self, key: str, value: int) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (time.monotonic() + CACHE_TTL_SECONDS, value)

    def pop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


_local_cache = _LocalTTLCache()


def _cache_get(key: str) -> int | None:
    if redis_store.client is None:
        return _local_cache.get(key)
    try:
        value = redis_store.client.get(key)
    except Exception:  # Redis down: authenticate from the database instead of failing
        log.warning("auth cache unavailable; using the database", exc_info=True)
        return None
    return int(value) if value is not None else None


def _cache_set(key: str, merchant_id: int) -> None:
    if redis_store.client is None:
        _local_cache.set(key, merchant_id)
        return
    try:
        redis_store.client.set(key, merchant_id, ex=CACHE_TTL_SECONDS)
    except Exception:
        log.warning("auth cache unavailable; not caching", exc_info=True)
