"""Per-merchant rate limit: RATE_LIMIT_PER_MERCHANT (e.g. "50/second"), off when unset.

It is checked right after authentication (`merchant_required`), keyed by the merchant id, so one
merchant's keys share one budget and a flood of bad keys costs no merchant anything. Flask-
Limiter's own hooks run before the view, i.e. before we know the merchant, so this uses its
engine, `limits`, directly: a fixed window counted in Redis (one atomic INCR per request), or
in-process without REDIS_URL. Redis being down never fails a request: the check is skipped
(fail open) and logged at most every LOG_EVERY_SECONDS.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from payments.config import Settings
from payments.errors import RateLimited

log = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 10.0
REDIS_TIMEOUT_SECONDS = 0.5
_EXTENSION = "payments_rate_limit"
_init_lock = threading.Lock()


class MerchantRateLimit:
    def __init__(self, settings: Settings, item: RateLimitItem) -> None:
        self.item = item
        if settings.redis_url:
            storage = storage_from_string(
                settings.redis_url,
                key_prefix=f"{settings.redis_key_prefix}ratelimit",
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        else:
            storage = storage_from_string("memory://")
        self.limiter = FixedWindowRateLimiter(storage)
        self._last_warning = 0.0

    def check(self, merchant_id: int) -> None:
        """RateLimited (429 with Retry-After) when the merchant is over its limit."""
        identity = ("merchant", str(merchant_id))
        try:
            if self.limiter.hit(self.item, *identity):
                return
            reset_at = self.limiter.get_window_stats(self.item, *identity).reset_time
        except Exception:
            self._warn_storage_down()
            return
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"More than {self.item} requests; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )

    def _warn_storage_down(self) -> None:
        now = time.monotonic()
        if now - self._last_warning >= LOG_EVERY_SECONDS:
            self._last_warning = now
            log.warning("rate limit storage unavailable; requests pass unlimited", exc_info=True)


def enforce_merchant_rate_limit(merchant_id: int) -> None:
    limit = _limit_of(current_app)
    if limit is not None:
        limit.check(merchant_id)


def _build(settings: Settings) -> MerchantRateLimit | None:
    if not settings.rate_limit_per_merchant:
        return None
    try:
        return MerchantRateLimit(settings, parse(settings.rate_limit_per_merchant))
    except Exception:  # e.g. a REDIS_URL the client refuses: fail open, loudly
        log.exception("rate limit disabled: its storage cannot be set up")
        return None


def _limit_of(app: Flask) -> MerchantRateLimit | None:
    # Built on first use and kept per app (tests run several apps in one process).
    if _EXTENSION not in app.extensions:
        with _init_lock:
            if _EXTENSION not in app.extensions:
                app.extensions[_EXTENSION] = _build(app.extensions["payments_settings"])
    return app.extensions[_EXTENSION]
