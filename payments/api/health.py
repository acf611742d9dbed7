"""Liveness (`ping`, touches nothing) and readiness (`health`, checks every dependency)."""

from flask_smorest import Blueprint

from payments.api.schemas.health import HealthSchema, PingSchema
from payments.services.health import check_dependencies

blp = Blueprint(
    "health",
    __name__,
    url_prefix="/api/v1/payments",
    description="Liveness and readiness probes (no authentication).",
)


@blp.get("/ping")
@blp.response(200, PingSchema)
def ping():
    """Liveness: answers without touching any dependency."""
    return {"ok": True}


@blp.get("/health")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="At least one dependency is down.")
def health():
    """Readiness: checks the database, the broker and Redis; 503 when any is down."""
    report = check_dependencies()
    return report, (200 if report["ok"] else 503)
