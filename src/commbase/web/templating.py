"""Jinja2 environment of the dashboard: templates, and how figures are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from commbase.core.money import exponent, is_currency

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def money(minor: int, currency: str) -> str:
    """Minor units in major units with the currency's own digits: ``12345 USD`` is
    ``123.45 USD``, ``12345 JPY`` is ``12,345 JPY``, ``12345 KWD`` is ``12.345 KWD``
    (ISO 4217 exponent; integer arithmetic, no float). An unknown code shows 2 digits."""
    digits = exponent(currency) if is_currency(currency) else 2
    sign = "-" if minor < 0 else ""
    major, fraction = divmod(abs(int(minor)), 10**digits)
    text = f"{sign}{major:,}"
    if digits:
        text += f".{fraction:0{digits}d}"
    return f"{text} {currency}"


def number(value: Any, unit: str = "count", currency: str = "USD") -> str:
    """A figure as people read it: money in major units, durations, rates."""
    if value is None:
        return "\u2013"  # an en dash: no figure
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "minor":
        return money(round(value), currency)
    if unit in ("percent", "%"):
        return f"{value:,.2f} %"
    if unit == "ratio":
        return f"{value:,.4g}"
    if unit == "s":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit in ("mos", "stars", "rating", "score"):
        return f"{value:,.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def growth(value: float | None) -> str:
    if value is None:
        return "no previous figure"
    sign = "+" if value > 0 else ""
    return f"{sign}{value:.1f} %"


def spark(values: list[Any], width: int = 120, height: int = 28) -> str:
    """SVG polyline points of a sparkline (drawn by the browser, no script)."""
    numbers = [float(v) if isinstance(v, int | float) else 0.0 for v in values]
    if len(numbers) < 2:
        return ""
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1.0
    step = width / (len(numbers) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v - low) / span * (height - 2) - 1:.1f}"
        for i, v in enumerate(numbers)
    )


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["number"] = number
environment.filters["growth"] = growth
environment.filters["spark"] = spark


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = environment.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
