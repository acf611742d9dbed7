"""Engine options per backend: pooled on PostgreSQL, WAL and a busy timeout on SQLite so the
embedded default's threads (API, worker, scheduler) can share one file.

A process holds at most as many connections as it has threads using the database at once, and
never more than pool_size + max_overflow (DB_POOL_SIZE, DB_MAX_OVERFLOW). docs/operations.md
adds these up against PostgreSQL's max_connections for a deployment.

Stale connections: SQLAlchemy's pool_pre_ping would cost a round trip on every checkout, i.e.
several per request under load. Instead a connection is pinged only when it sat in the pool for
more than IDLE_PING_SECONDS (the only time a restarted server or a dropped idle connection can
have gone unnoticed); a busy connection that dies mid-use raises a disconnect error, on which
SQLAlchemy invalidates the whole pool, so the next requests connect afresh.

Round trips: a transaction on PostgreSQL costs a BEGIN and a COMMIT (or ROLLBACK) besides its
statements. Work that is one statement (a read, a conditional UPDATE ... RETURNING) runs on
`statement_by_statement`, where each statement commits by itself, with the same atomicity."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import ColumnElement, event, exc, func
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import Pool

from payments.fast_json import dumps_text

IDLE_PING_SECONDS = 5.0
_CHECKED_IN_AT = "payments_checked_in_at"


def engine_options(url: str, pool_size: int = 10, max_overflow: int = 10) -> dict:
    if make_url(url).get_backend_name() == "sqlite":
        return {
            "connect_args": {"check_same_thread": False, "timeout": 30},
            "json_serializer": dumps_text,
        }
    return {
        "json_serializer": dumps_text,  # the outbox payload, written by every provider report
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": 5,
        "pool_recycle": 1800,
        # A dead database must fail a request quickly (503), not hang it.
        "connect_args": {"connect_timeout": 3, "application_name": "payments"},
    }


@contextmanager
def statement_by_statement(engine: Engine) -> Iterator[Connection]:
    """A pooled connection in autocommit: every statement is its own transaction, committed by
    the server as it completes, with no BEGIN/COMMIT round trips around it. Only for work whose
    statements need no common transaction (a statement is atomic, consecutive reads may see
    different snapshots).

    On SQLite (the embedded default) the block is one ordinary transaction instead.
    """
    with engine.connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        if _is_sqlite(dbapi_connection):
            with connection.begin():
                yield connection
            return
        # Client-side only: psycopg2 stops sending BEGIN; no statement is sent for the switch.
        dbapi_connection.autocommit = True
        try:
            yield connection
        finally:
            # Back to transactions before the pool hands the connection to anyone else (a
            # connection that died meanwhile is discarded by the pool anyway).
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False


def hidden_from_partial_indexes(column: ColumnElement) -> ColumnElement:
    """`column` (NOT NULL) as an expression with the same value that no partial index's
    predicate can match: for a condition on a row already found by primary key.

    `id = :id AND status = 'PAYMENT_PENDING'` also matches the predicate of the partial indexes
    on pending payments. If their statistics were taken while none was pending (a quiet hour),
    PostgreSQL believes them empty, prefers walking one of them with `id = :id` as a filter to
    the primary key, and pays for every pending payment on every call until the next ANALYZE.
    PostgreSQL does not see through coalesce(), so only the primary key is left.
    """
    return func.coalesce(column, "")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if not _is_sqlite(dbapi_connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@event.listens_for(Pool, "checkin")
def _remember_checkin(_dbapi_connection, record) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    checked_in_at = record.info.get(_CHECKED_IN_AT)
    if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
        return  # new, or in use a moment ago
    if _is_sqlite(dbapi_connection):
        return  # a local file cannot go away
    try:
        # In autocommit, so the ping does not open a transaction the request would inherit.
        was_autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.autocommit = was_autocommit
    except Exception as error:
        # The pool discards this connection and checks out (or opens) another, up to 3 times.
        raise exc.DisconnectionError(f"idle connection is dead: {error}") from error


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__ == "sqlite3"
