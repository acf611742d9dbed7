"""Server-side prepared statements for the hot path's statements on PostgreSQL.

PostgreSQL parses and plans every statement psycopg2 sends it, because psycopg2 sends each one
as text with its values inlined. For the provider report's one-statement write (a CTE of an
UPDATE and two INSERTs) planning costs about 190 µs of server CPU, more than running it; for a
select by primary key about 40 µs of 130. A statement marked with `prepared()` is sent once per
connection as `PREPARE`, and from then on as `EXECUTE name(values)`: PostgreSQL plans it once
per connection (a generic plan, after five custom ones, where that costs no more).

SQLAlchemy still compiles the statement (from its cache) and processes the values exactly as for
any statement; only the text handed to psycopg2 changes, in `before_cursor_execute`. The result
has the same columns in the same order, so rows read as before.

Where it applies: engines it is enabled on (the app's, unless DB_PREPARED_STATEMENTS=false),
PostgreSQL, one set of values per call (not executemany), statements marked by their module.
Elsewhere (SQLite, unmarked statements) nothing changes. Turn it off behind a connection pooler
that does not keep a session's prepared statements (PgBouncer in transaction mode).

- Each distinct SQL text gets its own name, numbered in this process (a statement may compile to
  more than one text), and a connection prepares a name the first time it runs it, one extra
  round trip per connection and statement. The names a connection has prepared live in its pool
  record's `info`, which SQLAlchemy empties whenever the record opens a new connection.
- PREPARE is not transactional: a prepared statement survives a rollback, including the rollback
  of the transaction it was prepared in.
- A migration invalidates the plans of prepared statements and PostgreSQL plans them again by
  itself, unless it changed the type of a column a statement returns: then EXECUTE fails with
  "cached plan must not change result type" on connections that prepared it before, until the
  processes restart (docs/operations.md).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable

_OPTION = "payments_prepared_as"
_PREPARED_NAMES = "payments_prepared_names"  # key of the pool record's info: names prepared there
# psycopg2's pyformat placeholders, and a literal percent sign escaped for it.
_PLACEHOLDER_OR_PERCENT = re.compile(r"%\((\w+)\)s|%%")

StatementT = TypeVar("StatementT", bound=Executable)

_numbered: dict[tuple[str, str], int] = {}  # (label, SQL text) -> its number in this process
_numbering = threading.Lock()


def prepared(statement: StatementT, name: str) -> StatementT:
    """`statement`, to be run as a server-side prepared statement on PostgreSQL. `name` (a few
    lowercase letters) names it in pg_prepared_statements, for whoever looks."""
    if not re.fullmatch(r"[a-z_]{1,40}", name):
        raise ValueError(f"a prepared statement's name is lowercase letters and _: {name!r}")
    return statement.execution_options(**{_OPTION: name})


@dataclass(frozen=True)
class Translation:
    name: str
    prepare: str  # PREPARE name AS <the statement, with $1, $2 ...>
    execute: str  # EXECUTE name(%(first)s, %(second)s ...): psycopg2 fills in the values


@lru_cache(maxsize=256)  # one entry per marked statement's SQL text: a handful
def translate(label: str, sql: str) -> Translation:
    """The PREPARE and EXECUTE of `sql` (as SQLAlchemy compiled it for psycopg2)."""
    order: dict[str, int] = {}

    def positional(match: re.Match) -> str:
        if match.group(1) is None:
            return "%"  # PREPARE is sent without values, so psycopg2 does not unescape %%
        return f"${order.setdefault(match.group(1), len(order) + 1)}"

    body = _PLACEHOLDER_OR_PERCENT.sub(positional, sql)
    with _numbering:  # a number per text, never shared: a name always means one statement
        number = _numbered.setdefault((label, sql), len(_numbered) + 1)
    name = f"payments_{label}_{number}"
    values = ", ".join(f"%({parameter})s" for parameter in order)
    return Translation(
        name=name,
        prepare=f"PREPARE {name} AS {body}",
        execute=f"EXECUTE {name}({values})" if values else f"EXECUTE {name}",
    )


def enable(engine: Engine) -> None:
    """Run `engine`'s marked statements prepared (a no-op on SQLite; idempotent)."""
    if engine.dialect.name == "postgresql" and not event.contains(
        engine, "before_cursor_execute", _execute_prepared
    ):
        event.listen(engine, "before_cursor_execute", _execute_prepared, retval=True)


def _execute_prepared(connection, cursor, statement, parameters, context, executemany):
    label = context.execution_options.get(_OPTION) if context is not None else None
    if label is None or executemany:
        return statement, parameters
    translation = translate(label, statement)
    names = connection.info.setdefault(_PREPARED_NAMES, set())
    if translation.name not in names:
        cursor.execute(translation.prepare)
        names.add(translation.name)  # only once PREPARE succeeded
    return translation.execute, parameters
