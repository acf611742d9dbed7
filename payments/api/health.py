"""Liveness (`ping`, touches nothing) and readiness (`health`, checks every dependency)."""

from flask_smorest import Blueprint

from payments.api.openapi import TAG_HEALTH
from payments.api.schemas.health import HealthSchema, PingSchema
from payments.services.health import check_dependencies

blp = Blueprint(
    "health",
    __name__,
    url_prefix="/api/v1/payments",
    description="Liveness and readiness probes (no authentication).",
)

_DOWN_EXAMPLE = {
    "ok": False,
    "checks": {
        "database": "ok",
        "broker": "ok",
        "redis": "error: ConnectionError: Error 111 connecting to 127.0.0.1:6379.",
    },
}


@blp.get("/ping", tags=[TAG_HEALTH])
@blp.doc(operationId="ping")
@blp.response(200, PingSchema, description="The process is alive.")
def ping():
    """Liveness: answers without touching any dependency

    For a liveness probe: answers as long as the process serves requests, whatever the state
    of the database, the broker or Redis.
    """
    return {"ok": True}


@blp.get("/health", tags=[TAG_HEALTH])
@blp.doc(operationId="health")
@blp.response(200, HealthSchema, description="Every dependency answers.")
@blp.alt_response(
    503,
    schema=HealthSchema,
    description="At least one dependency is down; `checks` says which.",
    example=_DOWN_EXAMPLE,
)
def health():
    """Readiness: checks the database, the broker and Redis

    For a readiness probe: `503` while any dependency is down. Without RABBITMQ_URL or
    REDIS_URL (development), their in-process stand-ins always answer `ok`.
    """
    report = check_dependencies()
    return report, (200 if report["ok"] else 503)
