"""CPU time every part of the machine spends on a measurement, per request.

On two shared cores a scenario's throughput is capped by the CPU one request costs in total:
the service's processes (gunicorn, dramatiq, the scheduler), PostgreSQL, Redis, RabbitMQ, the
fake provider and merchant, and the load generator itself. Measured as user + system time of
those processes over the measurement, divided by the requests (or notifications) it completed;
`ceiling` is what the machine's cores could serve at that cost if nothing else ran. Where a
throughput target is above its ceiling, no tuning of waits or pools can meet it: only less CPU
per request can.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

import psutil

SERVICE_PROCESSES = ("gunicorn", "dramatiq", "scheduler")
GROUPS = (*SERVICE_PROCESSES, "postgres", "redis", "rabbitmq", "fakes", "load generator")


class CpuMeter:
    def __init__(self, processes: dict[str, subprocess.Popen], fakes_pid: int | None) -> None:
        # gunicorn, dramatiq, the scheduler and the baseline app, each counted with its children
        self._pids = {name: process.pid for name, process in processes.items()}
        self._fakes_pid = fakes_pid

    def snapshot(self) -> dict[str, float]:
        """CPU seconds used so far, by group (processes that exited meanwhile drop out, which
        only matters for a worker restarted mid-run)."""
        by_name: dict[str, float] = {"postgres": 0.0, "redis": 0.0, "rabbitmq": 0.0}
        for process in psutil.process_iter(["name"]):
            group = _group_of(process.info["name"] or "")
            if group is not None:
                by_name[group] += _cpu_seconds([process])
        own = psutil.Process()
        times = own.cpu_times()
        return {
            **{name: _cpu_seconds(_trees([pid])) for name, pid in self._pids.items()},
            **by_name,
            "fakes": _cpu_seconds(_trees([self._fakes_pid] if self._fakes_pid else [])),
            # wrk runs as this process's child (counted once it exits); the Python load
            # generator runs in this process's threads.
            "load generator": times.user
            + times.system
            + times.children_user
            + times.children_system,
        }


def per_unit_ms(before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
    """Milliseconds of CPU per request (or notification) for each group with any."""
    if units <= 0:
        return {}
    spent = {group: (after[group] - before[group]) * 1000 / units for group in after}
    return {group: round(value, 3) for group, value in spent.items() if value > 0}


def ceiling(cpu_ms: dict[str, float], cores: int | None = None) -> float | None:
    total = sum(cpu_ms.values())
    return (cores or os.cpu_count() or 1) * 1000 / total if total > 0 else None


def _group_of(name: str) -> str | None:
    if name == "postgres" or name.startswith("postgres:"):
        return "postgres"
    if name.startswith("redis-server"):
        return "redis"
    if name in ("beam.smp", "erl_child_setup", "epmd", "inet_gethost"):
        return "rabbitmq"
    return None


def _trees(pids: Iterable[int]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def _cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total
