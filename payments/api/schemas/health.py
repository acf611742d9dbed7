from marshmallow import Schema, fields


class PingSchema(Schema):
    ok = fields.Boolean(required=True, metadata={"example": True})


class HealthChecksSchema(Schema):
    database = fields.String(metadata={"description": '"ok" or the error', "example": "ok"})
    broker = fields.String(metadata={"description": '"ok" or the error', "example": "ok"})
    redis = fields.String(metadata={"description": '"ok" or the error', "example": "ok"})


class HealthSchema(Schema):
    ok = fields.Boolean(required=True, metadata={"example": True})
    checks = fields.Nested(HealthChecksSchema, required=True)
