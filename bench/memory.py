"""Peak resident memory (RSS) of the service's worker processes, sampled through the whole run.

A gunicorn worker and a dramatiq worker process are the children of their master (`gunicorn`)
or main (`dramatiq`) process; the largest RSS any of them reached is what the report shows.
"""

from __future__ import annotations

import threading

import psutil

# Megabytes as the targets state them (10^6 bytes).
MB = 1_000_000


class PeakMemory:
    """Samples in a daemon thread; `with PeakMemory({"gunicorn": pid, ...}) as peaks:`."""

    def __init__(self, masters: dict[str, int], interval: float = 0.5) -> None:
        self.masters = masters
        self.interval = interval
        self.peaks_mb: dict[str, float] = {}
        self.worker_pids: dict[str, set[int]] = {name: set() for name in masters}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for name, pid in self.masters.items():
            try:
                children = psutil.Process(pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for child in children:
                try:
                    rss = child.memory_info().rss / MB
                except psutil.NoSuchProcess:
                    continue
                self.worker_pids[name].add(child.pid)
                self.peaks_mb[name] = max(self.peaks_mb.get(name, 0.0), rss)


def worker_pids(master_pid: int) -> list[int]:
    """The current worker processes of a gunicorn master (or dramatiq main)."""
    try:
        return [child.pid for child in psutil.Process(master_pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
