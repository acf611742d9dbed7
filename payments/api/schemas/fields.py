"""Fields shared by the API's schemas (and the sandbox provider's)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from payments.domain.money import InvalidAmount, format_money, parse_money

MAX_BIGINT = 2**63 - 1


class StrictInteger(fields.Integer):
    """A JSON integer: no strings, no floats, no booleans (bool is an int in Python)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_BIGINT))
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class PlainString(fields.String):
    """A string PostgreSQL can store: no NUL character and no unpaired UTF-16 surrogate (a JSON
    escape such as \\ud800 decodes to one). Either would fail in the driver, a 500."""

    default_error_messages = {
        "unstorable": "Must not contain NUL characters or unpaired surrogates."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text or not _is_utf8_encodable(text):
            raise self.make_error("unstorable")
        return text


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class MoneyInput(fields.Field):
    """A decimal as JSON number or string; > 0, at most 10 digits before the point, 8 after."""

    RULE = "A decimal > 0 as a JSON string or number: at most 10 digits before the point, 8 after."

    def __init__(self, *, description: str = "", **kwargs) -> None:
        metadata = {
            "oneOf": [{"type": "string", "pattern": r"^\d{1,10}(\.\d{1,8})?$"}, {"type": "number"}],
            "example": "10.50",
            "description": f"{description} {self.RULE}".strip(),
        }
        super().__init__(required=True, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError("Must be a decimal number (JSON number or string).")
        if isinstance(value, str) and len(value) > 64:
            raise ValidationError("Must be a decimal number of reasonable length.")
        try:
            return parse_money(value)
        except InvalidAmount as exc:
            raise ValidationError(f"Must be a decimal number: {exc}.") from None


class MoneyOutput(fields.Field):
    """A decimal as a string, e.g. "10.50"."""

    def __init__(self, *, description: str = "", **kwargs) -> None:
        metadata = {
            "type": "string",
            "example": "10.50",
            "description": f"{description} A decimal string, never a float.".strip(),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_money(value)
