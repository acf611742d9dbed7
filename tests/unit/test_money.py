from decimal import Decimal

import pytest

from payments.domain.money import InvalidAmount, format_money, parse_money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.1, Decimal("0.1")),
        ("12.5", Decimal("12.5")),
        (10, Decimal("10")),
        ("9999999999.99999999", Decimal("9999999999.99999999")),
        ("0.00000001", Decimal("0.00000001")),
        ("1e3", Decimal("1000")),
    ],
)
def test_valid_amounts(raw, expected):
    assert parse_money(raw) == expected


@pytest.mark.parametrize(
    "raw", [0, -1, "0", "abc", "nan", "inf", True, "10000000000", "0.000000001", 1e-9, ""]
)
def test_invalid_amounts(raw):
    with pytest.raises(InvalidAmount):
        parse_money(raw)


def test_format_money_is_plain_decimal():
    assert format_money(Decimal("10")) == "10.00"
    assert format_money(Decimal("0.10000000")) == "0.10"
    assert format_money(Decimal("1.23456789")) == "1.23456789"
    assert format_money(Decimal("1E+3")) == "1000.00"
