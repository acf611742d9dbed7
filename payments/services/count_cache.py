"""A short-lived cache of large list totals, shared by the service's processes through Redis
(in-process without REDIS_URL).

A total is fresh for FRESH_SECONDS and kept up to KEEP_SECONDS. Once it is stale, one request
(holding a short lock) recounts while the others keep answering the stale total, so a busy
merchant's expiring total never sends every concurrent request into the same slow count.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from payments.extensions import redis_store

log = logging.getLogger(__name__)

FRESH_SECONDS = 30
KEEP_SECONDS = 600
LOCK_SECONDS = 10

_local: dict[str, tuple[float, int]] = {}
_local_refreshing: dict[str, float] = {}  # key -> when its refresh was claimed
_local_lock = threading.Lock()


def cached_count(key: str, count: Callable[[], int]) -> int:
    """The cached total under `key`, recounting with `count()` when missing or stale."""
    entry = _read(key)
    if entry is not None:
        counted_at, total = entry
        if time.time() - counted_at < FRESH_SECONDS or not _claim_refresh(key):
            return total
    total = count()
    _write(key, total)
    return total


def _read(key: str) -> tuple[float, int] | None:
    if redis_store.client is None:
        with _local_lock:
            entry = _local.get(key)
        return entry if entry and time.time() - entry[0] < KEEP_SECONDS else None
    try:
        raw = redis_store.client.get(key)
    except Exception:  # Redis down: count from the database, slower but right
        log.warning("count cache unavailable", exc_info=True)
        return None
    if raw is None:
        return None
    counted_at, total = json.loads(raw)
    return float(counted_at), int(total)


def _claim_refresh(key: str) -> bool:
    if redis_store.client is None:
        with _local_lock:
            now = time.time()
            if now - _local_refreshing.get(key, 0.0) < LOCK_SECONDS:
                return False
            _local_refreshing[key] = now
            return True
    try:
        return bool(redis_store.client.set(f"{key}:refresh", 1, nx=True, ex=LOCK_SECONDS))
    except Exception:
        return True


def _write(key: str, total: int) -> None:
    entry = (time.time(), total)
    if redis_store.client is None:
        with _local_lock:
            if len(_local) > 10_000:
                _local.clear()
            _local[key] = entry
            _local_refreshing.pop(key, None)
        return
    try:
        redis_store.client.set(key, json.dumps(entry), ex=KEEP_SECONDS)
        redis_store.client.delete(f"{key}:refresh")
    except Exception:
        log.warning("count cache unavailable; not caching", exc_info=True)
