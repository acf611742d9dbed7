"""The arithmetic of the report: percentiles, ratios to the baseline, targets met or not.

Pure functions on numbers, so tests/unit/test_bench_stats.py can check them without I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; None when
    there are no values (a scenario that measured nothing has no p99, not a p99 of zero)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    mean: float | None


def summarise(values: Iterable[float]) -> Summary:
    ordered = sorted(values)
    if not ordered:
        return Summary(0, None, None, None, None, None)
    return Summary(
        count=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        max=float(ordered[-1]),
        mean=sum(ordered) / len(ordered),
    )


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline; None when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def rate(count: int, seconds: float) -> float | None:
    if seconds <= 0:
        return None
    return count / seconds


@dataclass(frozen=True)
class Target:
    """One line of the issue's targets: `figure` compared with `limit`.

    `at_least` targets are met by figure >= limit (throughput), the others by figure <= limit
    (latency, memory, time)."""

    name: str
    figure: float | None
    limit: float
    at_least: bool
    unit: str = ""
    scenario: str | None = None  # the load to profile when the target is missed

    @property
    def met(self) -> bool | None:
        """None when the figure could not be measured: neither met nor missed."""
        if self.figure is None:
            return None
        return self.figure >= self.limit if self.at_least else self.figure <= self.limit

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]

    @property
    def rule(self) -> str:
        return f"{'>=' if self.at_least else '<='} {format_number(self.limit)}{self.unit}"


def format_number(value: float | None, digits: int = 3) -> str:
    """Compact human figures: 3 significant digits, thousands separated, '-' for missing."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"
