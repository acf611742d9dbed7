"""`python -m tasks.scheduler`: sends the outbox sweep every SWEEP_INTERVAL_SECONDS.

Run as many as you like: exactly one is active. The leader holds a lock and renews it every
second; the others poll for it and take over within a few seconds of the leader's death.
  - REDIS_URL set: a Redis lock with a short TTL (LEADER_TTL_SECONDS), renewed while alive;
  - else PostgreSQL: a session advisory lock on a dedicated connection (released by the
    server the moment the leader's connection dies);
  - else (SQLite, development): no lock, every scheduler runs.
Two leaders for a moment (a network partition) would only mean two sweeps, which is safe.
SIGTERM/SIGINT: stop, release the lock, exit 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from redis.exceptions import LockError, RedisError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from payments.config import Settings

log = logging.getLogger("payments.scheduler")

LEADER_TTL_SECONDS = 3.0
TICK_SECONDS = 1.0
# One advisory-lock key for the scheduler (advisory locks are per database).
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"payments.scheduler").digest()[:8], "big") >> 1


class _Unreachable:
    """A scheduler that cannot reach its lock says so, once a minute: without the lock backend
    no scheduler sweeps, and that must not be silent."""

    def __init__(self) -> None:
        self._last = -60.0

    def __call__(self, exc: Exception) -> None:
        if time.monotonic() - self._last >= 60.0:
            self._last = time.monotonic()
            log.warning("scheduler cannot reach its leader lock: %s", type(exc).__name__)


class LeaderLock(Protocol):
    description: str

    def acquire(self) -> bool: ...  # non-blocking: True when we hold it now

    def renew(self) -> bool: ...  # False: the lock is no longer ours

    def release(self) -> None: ...


class RedisLeaderLock:
    description = "Redis lock"

    def __init__(self, client: redis.Redis, key: str, ttl: float = LEADER_TTL_SECONDS) -> None:
        self._lock = client.lock(key, timeout=ttl, blocking=False, thread_local=False)
        self._unreachable = _Unreachable()

    def acquire(self) -> bool:
        try:
            return bool(self._lock.acquire(blocking=False))
        except RedisError as exc:
            self._unreachable(exc)
            return False

    def renew(self) -> bool:
        try:
            self._lock.reacquire()
        except (LockError, RedisError):
            return False
        return True

    def release(self) -> None:
        # Expired or unreachable: the TTL frees it anyway.
        with contextlib.suppress(LockError, RedisError):
            self._lock.release()


class PostgresLeaderLock:
    description = "PostgreSQL advisory lock"

    def __init__(self, database_url: str, key: int = ADVISORY_KEY) -> None:
        self._engine = create_engine(
            database_url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 3,
                "application_name": "payments-scheduler",
                "options": "-c statement_timeout=5000",
            },
        )
        self._key = key
        self._connection: Connection | None = None
        self._unreachable = _Unreachable()

    def acquire(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            return bool(self._scalar("SELECT pg_try_advisory_lock(:key)"))
        except SQLAlchemyError as exc:
            self._unreachable(exc)
            self._drop_connection()
            return False

    def renew(self) -> bool:
        """The lock lives as long as the connection: check that it is still alive."""
        try:
            self._scalar("SELECT 1")
        except SQLAlchemyError:
            self._drop_connection()
            return False
        return True

    def release(self) -> None:
        with contextlib.suppress(SQLAlchemyError):
            self._scalar("SELECT pg_advisory_unlock(:key)")
        self._drop_connection()
        self._engine.dispose()

    def _scalar(self, sql: str):
        if self._connection is None:
            raise SQLAlchemyError("not connected")
        return self._connection.execute(text(sql), {"key": self._key}).scalar()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None


class NoLock:
    description = "no lock (SQLite development database)"

    def acquire(self) -> bool:
        return True

    def renew(self) -> bool:
        return True

    def release(self) -> None:
        pass


def make_leader_lock(settings: Settings) -> LeaderLock:
    if settings.redis_url:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        return RedisLeaderLock(client, f"{settings.redis_key_prefix}scheduler:leader")
    if settings.is_postgres:
        return PostgresLeaderLock(settings.database_url)
    return NoLock()


class SweepScheduler:
    """Leader election and the sweep clock in one loop (no thread of its own)."""

    def __init__(
        self,
        lock: LeaderLock,
        send: Callable[[], bool],
        interval: float,
        stop: threading.Event,
    ) -> None:
        self.lock, self.send, self.interval, self.stop = lock, send, interval, stop
        self.is_leader = False

    def run(self) -> None:
        next_sweep = time.monotonic()
        try:
            while not self.stop.is_set():
                if self._hold_leadership():
                    now = time.monotonic()
                    if now >= next_sweep:
                        self.send()
                        # Keep the beat without a burst of catch-up sweeps after a stall.
                        next_sweep = max(next_sweep + self.interval, now)
                    self.stop.wait(min(TICK_SECONDS, max(0.0, next_sweep - time.monotonic())))
                else:
                    next_sweep = time.monotonic()
                    self.stop.wait(TICK_SECONDS)
        finally:
            if self.is_leader:
                self.lock.release()
                log.info("scheduler stopped; leadership released")

    def _hold_leadership(self) -> bool:
        if not self.is_leader:
            self.is_leader = self.lock.acquire()
            if self.is_leader:
                log.info("scheduler is the leader (%s); sweeping", self.lock.description)
        elif not self.lock.renew():
            self.is_leader = False
            log.warning("scheduler lost leadership (%s); standing by", self.lock.description)
        return self.is_leader


def start_in_thread(settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """The embedded default: the scheduler as a daemon thread of the API process."""
    from payments.messaging import send_sweep

    stop = threading.Event()
    scheduler = SweepScheduler(
        make_leader_lock(settings), send_sweep, settings.sweep_interval_seconds, stop
    )
    thread = threading.Thread(target=scheduler.run, name="payments-scheduler", daemon=True)
    thread.start()
    return thread, stop


def main() -> int:
    # Importing `tasks` built the app from the settings (a bad configuration already stopped
    # the process with one line) and configured the broker.
    from payments.messaging import broker_settings, send_sweep

    settings = broker_settings()
    if not settings.rabbitmq_url:
        sys.exit(
            "payments scheduler: RABBITMQ_URL is not set; without a broker the API process "
            "runs the scheduler itself (the embedded default), so there is nothing to start"
        )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    lock = make_leader_lock(settings)
    log.info("scheduler started; waiting for leadership (%s)", lock.description)
    SweepScheduler(lock, send_sweep, settings.sweep_interval_seconds, stop).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
