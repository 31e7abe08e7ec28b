"""Custom metrics: an organization's own count, sum, average or distinct over its tracked events.

A definition names an event type, an aggregate, a field (``data.<path>`` or one
of the event's references) and filters such as
``{"field": "data.plan", "op": "eq", "value": "pro"}``; it is queried as
``custom.<name>`` everywhere a declared metric is, and rolled up the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.models import CustomMetric
from commbase.analytics.registry import Expr, Metric, Source, invalid, signature
from commbase.tracking.metrics import EVENT_DIMENSIONS, TRACKED_EVENTS
from commbase.tracking.models import TrackedEvent

PREFIX = "custom."
REFERENCES: dict[str, Expr] = {
    "user_id": TrackedEvent.user_id,
    "session_id": TrackedEvent.session_id,
    "call_id": TrackedEvent.call_id,
    "visitor_id": TrackedEvent.visitor_id,
    "account_id": TrackedEvent.account_id,
    "type": TrackedEvent.type,
}
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists")


def _path(field: str) -> tuple[str, ...]:
    parts = tuple(field.split("."))
    if parts[0] != "data" or len(parts) < 2 or len(parts) > 6 or not all(parts[1:]):
        raise invalid(
            f"Unknown field {field!r}: use data.<path> or one of {sorted(REFERENCES)}",
            "field",
            location="body",
        )
    return parts[1:]


def text_of(field: str) -> Expr:
    if field in REFERENCES:
        return REFERENCES[field]
    path = _path(field)
    node = TrackedEvent.data[path if len(path) > 1 else path[0]]
    return node.as_string()


def number_of(field: str) -> Expr:
    if field in REFERENCES:
        raise invalid(f"{field!r} is not a number", "field", location="body")
    path = _path(field)
    node = TrackedEvent.data[path if len(path) > 1 else path[0]]
    return node.as_float()


def _condition(spec: dict[str, Any]) -> Any:
    field, op, value = spec.get("field"), spec.get("op", "eq"), spec.get("value")
    if not isinstance(field, str) or op not in OPERATORS:
        raise invalid("A filter needs a field and an op", "filters", location="body")
    if op == "exists":
        return text_of(field).is_not(None) if value is not False else text_of(field).is_(None)
    if op == "in":
        if not isinstance(value, list) or not value:
            raise invalid("`in` needs a non-empty list", "filters", location="body")
        return text_of(field).in_([str(v) for v in value])
    if isinstance(value, (bool, str)) or value is None:
        if op not in ("eq", "ne"):
            raise invalid(f"`{op}` needs a number", "filters", location="body")
        text = ("true" if value else "false") if isinstance(value, bool) else value
        column = text_of(field)
        if value is None:
            return column.is_(None) if op == "eq" else column.is_not(None)
        return column == text if op == "eq" else column != text
    if not isinstance(value, int | float):
        raise invalid(
            "A filter value is a string, number, boolean or list", "filters", location="body"
        )
    number = number_of(field)
    return {
        "eq": number == value,
        "ne": number != value,
        "gt": number > value,
        "gte": number >= value,
        "lt": number < value,
        "lte": number <= value,
    }[op]


def as_metric(definition: CustomMetric) -> Metric:
    """The registry metric a stored definition stands for (raises on a bad definition)."""
    dimensions: dict[str, Expr] = dict(EVENT_DIMENSIONS)
    for field in definition.dimensions:
        dimensions[field] = text_of(field)
    where = and_(
        TrackedEvent.type == definition.event_type,
        *(_condition(spec) for spec in definition.filters),
    )
    source = Source(
        f"custom:{definition.id}",
        TRACKED_EVENTS.table,
        org=TRACKED_EVENTS.org,
        time=TRACKED_EVENTS.time,
        changed=TRACKED_EVENTS.changed,
        account=TRACKED_EVENTS.account,
        dimensions=dimensions,
        where=where,
        watermark=TRACKED_EVENTS.watermark_key,
    )
    value: Expr | None = None
    if definition.aggregate in ("sum", "avg"):
        if not definition.field:
            raise invalid(f"A {definition.aggregate} needs a field", "field", location="body")
        value = number_of(definition.field)
    elif definition.aggregate == "distinct":
        if not definition.field:
            raise invalid("A distinct count needs a field", "field", location="body")
        value = text_of(definition.field)
    elif definition.aggregate != "count":
        raise invalid(f"Unknown aggregate {definition.aggregate!r}", "aggregate", location="body")
    return Metric(
        PREFIX + definition.name,
        definition.aggregate,  # type: ignore[arg-type]
        definition.description or f"{definition.aggregate} of {definition.event_type} events",
        source=source,
        value=value,
        unit=definition.unit,
        org_id=definition.org_id,
    )


def metric_signature(definition: CustomMetric) -> str:
    return signature([as_metric(definition)])


async def load(session: AsyncSession, org_id: str) -> tuple[dict[str, Metric], set[str]]:
    """An organization's custom metrics, and the names whose rollups are current."""
    rows = await session.scalars(select(CustomMetric).where(CustomMetric.org_id == org_id))
    metrics: dict[str, Metric] = {}
    ready: set[str] = set()
    for row in rows:
        metric = as_metric(row)
        metrics[metric.name] = metric
        if row.rollup_signature and row.rollup_signature == signature([metric]):
            ready.add(metric.name)
    return metrics, ready
