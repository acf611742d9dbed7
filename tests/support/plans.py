"""PostgreSQL's plan for a Core statement, for the tests that pin which index a query uses."""

from __future__ import annotations

from typing import Any

from payments.extensions import db
from payments.prepared import translate


def plan_of(
    statement, params: dict[str, Any] | None = None, *, seqscan: bool = True, generic: bool = False
) -> str:
    """EXPLAIN of `statement` with `params` (its own bound values otherwise), in the session's
    transaction, rolled back after. `seqscan=False`: on a test-sized table a sequential scan
    wins anyway; without it the planner's choice is between indexes, as on a real table.

    `generic=True`: the plan of the statement prepared (payments/prepared.py) once PostgreSQL
    plans it for any values, which it may do from the sixth execution on a connection."""
    compiled = statement.compile(db.engine, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params(params or {})
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        if not seqscan:
            cursor.execute("SET LOCAL enable_seqscan = off")
        if not generic:
            cursor.execute(f"EXPLAIN {compiled}", values)
            return "\n".join(row[0] for row in cursor.fetchall())
        # A name of its own: the app may have prepared the same text on this connection.
        translation = translate("plan_test", str(compiled))
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(translation.prepare)
        try:
            cursor.execute(f"EXPLAIN {translation.execute}", values)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute(f"DEALLOCATE {translation.name}")  # it would outlive the rollback
    finally:
        db.session.rollback()
