"""Money on the dashboard is written with the currency's own number of digits."""

from __future__ import annotations

from commbase.web.templating import money, number


def test_money_uses_the_iso_4217_exponent() -> None:
    assert money(12345, "USD") == "123.45 USD"
    assert money(12345, "JPY") == "12,345 JPY"
    assert money(12345, "KWD") == "12.345 KWD"
    assert money(5, "BHD") == "0.005 BHD"
    assert money(-1234567, "USD") == "-12,345.67 USD"
    assert money(0, "JPY") == "0 JPY"


def test_the_number_filter_writes_minor_units_the_same_way() -> None:
    assert number(12345, "minor", "JPY") == "12,345 JPY"
    assert number(12345, "minor", "KWD") == "12.345 KWD"
    assert number(12345, "minor", "EUR") == "123.45 EUR"
