"""Money is Decimal end to end and fits the database's NUMERIC(18,8)."""

from decimal import Decimal, InvalidOperation

MONEY_PRECISION = 18
MONEY_SCALE = 8
MAX_INTEGER_DIGITS = MONEY_PRECISION - MONEY_SCALE
QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class InvalidAmount(ValueError):
    pass


def parse_money(value: object) -> Decimal:
    """A positive decimal with at most 10 digits before the point and 8 after.

    Floats are accepted through their shortest repr (JSON numbers arrive as float or int),
    never through binary expansion, so 0.1 stays 0.1.
    """
    if isinstance(value, bool):
        raise InvalidAmount("must be a number")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidAmount("must be a decimal number") from None
    if not amount.is_finite():
        raise InvalidAmount("must be a finite number")
    if amount <= 0:
        raise InvalidAmount("must be greater than 0")
    _sign, digits, exponent = amount.normalize().as_tuple()
    fraction_digits = max(0, -exponent)
    if fraction_digits > MONEY_SCALE:
        raise InvalidAmount(f"must have at most {MONEY_SCALE} digits after the decimal point")
    integer_digits = len(digits) + exponent
    if amount >= 1 and integer_digits > MAX_INTEGER_DIGITS:
        raise InvalidAmount(f"must have at most {MAX_INTEGER_DIGITS} digits before the point")
    return amount.quantize(QUANTUM)


def format_money(amount: Decimal) -> str:
    """Plain decimal string with no exponent and no trailing zeros beyond two places."""
    normalized = amount.quantize(QUANTUM).normalize()
    if normalized == normalized.to_integral():
        return f"{normalized:.2f}"
    text = format(normalized, "f")
    return text if len(text.split(".")[1]) >= 2 else f"{normalized:.2f}"
