"""Schemas of the liveness and readiness probes."""

from marshmallow import Schema, fields

_CHECK = '"ok", or what went wrong with this dependency.'


class PingSchema(Schema):
    ok = fields.Boolean(
        required=True,
        metadata={"description": "Always true: the process answers.", "example": True},
    )


class HealthChecksSchema(Schema):
    database = fields.String(metadata={"description": f"The database: {_CHECK}", "example": "ok"})
    broker = fields.String(
        metadata={"description": f"The message broker (RabbitMQ): {_CHECK}", "example": "ok"}
    )
    redis = fields.String(metadata={"description": f"Redis: {_CHECK}", "example": "ok"})


class HealthSchema(Schema):
    ok = fields.Boolean(
        required=True,
        metadata={
            "description": "True when every check is ok (else the answer is 503).",
            "example": True,
        },
    )
    checks = fields.Nested(
        HealthChecksSchema, required=True, metadata={"description": "One entry per dependency."}
    )
