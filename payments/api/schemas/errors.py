"""The one error shape of every answer that is not a success (SPEC, "Errors"), as documented."""

from marshmallow import Schema, fields


class ApiErrorSchema(Schema):
    code = fields.Integer(
        required=True, metadata={"description": "The HTTP status code again.", "example": 400}
    )
    status = fields.String(
        required=True,
        metadata={"description": "The HTTP reason phrase.", "example": "Bad Request"},
    )
    message = fields.String(
        required=True,
        metadata={
            "description": "What went wrong, for a human.",
            "example": "Unknown provider alias.",
        },
    )
    error = fields.String(
        required=True,
        metadata={
            "description": "Stable machine code to branch on (listed per response below).",
            "example": "provider_not_found",
        },
    )
    errors = fields.Dict(
        metadata={
            "description": "Per-field messages; only on 422 validation_error.",
            "example": {"amount": ["Must be a decimal number: more than 8 decimal places."]},
        }
    )


class ProviderFailureSchema(ApiErrorSchema):
    payment_id = fields.Integer(
        required=True,
        metadata={
            "description": "The payment that failed (PAYMENT_FAILED, its token given back); "
            "the same order may be paid again with a new request.",
            "example": 7,
        },
    )
