"""What a merchant's answer means for a notification, and when it is tried next.

Pure rules (no I/O): the outbox service asks them after every delivery attempt.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

# A merchant may ask for a pause with Retry-After; more than a day is not a pause, it is a typo.
MAX_RETRY_AFTER_SECONDS = 86400.0
JITTER = 0.1


class Verdict(Enum):
    DELIVERED = "delivered"  # 2xx
    GONE = "gone"  # 410: the merchant says stop
    RETRY = "retry"  # anything else: timeout, connection error, other status


def judge(status_code: int | None) -> Verdict:
    """None means no answer at all (timeout, connection refused, ...)."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.RETRY


def is_quickly_retryable(status_code: int | None) -> bool:
    """Worth another try within the same attempt: no answer, 429 or a server error."""
    return status_code is None or status_code == 429 or status_code >= 500


def max_attempts(schedule: Sequence[int]) -> int:
    """The first attempt plus one per schedule step."""
    return len(schedule) + 1


def retry_delay(
    schedule: Sequence[int],
    attempts: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None when none is left.

    The step gets ±10 % jitter so notifications that failed together do not retry together;
    a longer Retry-After from the merchant wins.
    """
    if attempts < 1 or attempts >= max_attempts(schedule):
        return None
    step = float(schedule[attempts - 1])
    delay = step * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)
