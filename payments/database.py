"""Engine options per backend: pooled and pre-pinged on PostgreSQL, WAL and a busy timeout on
SQLite so the embedded default's threads (API, worker, scheduler) can share one file.

A process holds at most as many connections as it has threads using the database at once, and
never more than pool_size + max_overflow (DB_POOL_SIZE, DB_MAX_OVERFLOW). docs/operations.md
adds these up against PostgreSQL's max_connections for a deployment."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url


def engine_options(url: str, pool_size: int = 10, max_overflow: int = 10) -> dict:
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    return {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": 5,
        "pool_recycle": 1800,
        # A dead database must fail a request quickly (503), not hang it.
        "connect_args": {"connect_timeout": 3, "application_name": "payments"},
    }


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
