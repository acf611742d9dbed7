"""PostgreSQL's plan for a Core statement, for the tests that pin which index a query uses."""

from __future__ import annotations

from typing import Any

from payments.extensions import db


def plan_of(statement, params: dict[str, Any] | None = None, *, seqscan: bool = True) -> str:
    """EXPLAIN of `statement` with `params` (its own bound values otherwise), in the session's
    transaction, rolled back after. `seqscan=False`: on a test-sized table a sequential scan
    wins anyway; without it the planner's choice is between indexes, as on a real table."""
    compiled = statement.compile(db.engine, compile_kwargs={"render_postcompile": True})
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        if not seqscan:
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {compiled}", compiled.construct_params(params or {}))
        return "\n".join(row[0] for row in cursor.fetchall())
    finally:
        db.session.rollback()
