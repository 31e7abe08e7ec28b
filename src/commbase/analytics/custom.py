"""Custom metrics: an organization's own count, sum, average or distinct over its tracked events.

A definition names an event type, an aggregate, a field (``data.<path>`` or one
of the event's references) and filters such as
``{"field": "data.plan", "op": "eq", "value": "pro"}``; it is queried as
``custom.<name>`` everywhere a declared metric is, and rolled up the same way.

A definition becomes SQL that the rollup job runs for every organization, so
it is bounded when it is written (and checked again when it is read):
``MAX_CUSTOM_METRICS`` per organization, ``MAX_FILTERS`` filters, ``in`` lists
of ``MAX_IN_VALUES`` values, texts of ``MAX_FILTER_TEXT`` characters and
numbers within +-``MAX_FILTER_NUMBER``. A definition stored before these
bounds that breaks them is reported as broken (409 when queried), not run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.enums import Aggregate, CustomAggregate, FilterOperator
from commbase.analytics.models import CustomMetric, MetricRollup
from commbase.analytics.registry import Expr, Metric, Source, registered, signature
from commbase.analytics.schemas import (
    MAX_FILTER_NUMBER,
    MAX_FILTER_TEXT,
    MAX_FILTERS,
    MAX_IN_VALUES,
    CustomMetricCreate,
    CustomMetricUpdate,
    MetricRead,
)
from commbase.analytics.sql import json_number
from commbase.core.errors import AlreadyExists, NotFound, ValidationFailed, invalid
from commbase.core.time import utcnow
from commbase.tracking.metrics import (
    EVENT_DATA,
    EVENT_DIMENSIONS,
    EVENT_REFERENCES,
    EVENT_TYPE,
    TRACKED_EVENTS,
    event_data,
)

PREFIX = "custom."
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_CUSTOM_METRICS = 50
REFERENCES: dict[str, Expr] = EVENT_REFERENCES


def _path(field: str) -> tuple[str, ...]:
    parts = tuple(field.split("."))
    if parts[0] != "data" or not 2 <= len(parts) <= 6 or not all(map(_KEY.fullmatch, parts[1:])):
        raise invalid(
            f"Unknown field {field!r}: use data.<path> or one of {sorted(REFERENCES)}", "field"
        )
    return parts[1:]


def text_of(field: str) -> Expr:
    if field in REFERENCES:
        return REFERENCES[field]
    return event_data(_path(field)).as_string()


def number_of(field: str) -> Expr:
    """The number at ``field``; NULL for an event whose value there is not a number."""
    if field in REFERENCES:
        raise invalid(f"{field!r} is not a number", "field")
    return json_number(EVENT_DATA, _path(field))


def _bounded(value: Any, where: str) -> Any:
    """``value`` if it is a text, number or boolean within the bounds; else a 422."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        if len(value) > MAX_FILTER_TEXT:
            raise invalid(f"A filter text has at most {MAX_FILTER_TEXT} characters", where)
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > MAX_FILTER_NUMBER:
            raise invalid(f"A filter number lies within +-{MAX_FILTER_NUMBER}", where)
        return value
    raise invalid("A filter value is a text, number, boolean or list", where)


def _condition(spec: dict[str, Any], position: int) -> Any:
    where = f"filters.{position}"
    field, op, value = spec.get("field"), spec.get("op", "eq"), spec.get("value")
    if not isinstance(field, str) or op not in tuple(FilterOperator):
        raise invalid("A filter needs a field and an op", where)
    if op == FilterOperator.EXISTS:
        return text_of(field).is_not(None) if value is not False else text_of(field).is_(None)
    if op == FilterOperator.IN:
        if not isinstance(value, list) or not value:
            raise invalid("`in` needs a non-empty list", f"{where}.value")
        if len(value) > MAX_IN_VALUES:
            raise invalid(f"`in` takes at most {MAX_IN_VALUES} values", f"{where}.value")
        items = [_bounded(item, f"{where}.value") for item in value]
        if any(isinstance(item, bool) or item is None for item in items):
            raise invalid("`in` takes texts and numbers", f"{where}.value")
        return text_of(field).in_([str(item) for item in items])
    value = _bounded(value, f"{where}.value")
    if isinstance(value, bool | str) or value is None:
        if op not in (FilterOperator.EQ, FilterOperator.NE):
            raise invalid(f"`{op}` needs a number", f"{where}.value")
        text = ("true" if value else "false") if isinstance(value, bool) else value
        column = text_of(field)
        if value is None:
            return column.is_(None) if op == FilterOperator.EQ else column.is_not(None)
        return column == text if op == FilterOperator.EQ else column != text
    number = number_of(field)
    return {
        FilterOperator.EQ: number == value,
        FilterOperator.NE: number != value,
        FilterOperator.GT: number > value,
        FilterOperator.GTE: number >= value,
        FilterOperator.LT: number < value,
        FilterOperator.LTE: number <= value,
    }[FilterOperator(op)]


def as_metric(definition: CustomMetric) -> Metric:
    """The registry metric a stored definition stands for (raises on a bad definition)."""
    if len(definition.filters) > MAX_FILTERS:
        raise invalid(f"A custom metric has at most {MAX_FILTERS} filters", "filters")
    dimensions: dict[str, Expr] = dict(EVENT_DIMENSIONS)
    for name in definition.dimensions:
        dimensions[name] = text_of(name)
    where = and_(
        EVENT_TYPE == definition.event_type,  # noqa: SIM300  (a column on the left)
        *(_condition(spec, position) for position, spec in enumerate(definition.filters)),
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
    if definition.aggregate not in tuple(CustomAggregate):
        raise invalid(f"Unknown aggregate {definition.aggregate!r}", "aggregate")
    aggregate = Aggregate(definition.aggregate)
    if aggregate in (Aggregate.SUM, Aggregate.AVG, Aggregate.DISTINCT):
        if not definition.field:
            raise invalid(f"A {aggregate} metric needs a field", "field")
        value = text_of(definition.field) if aggregate == Aggregate.DISTINCT else None
        value = number_of(definition.field) if value is None else value
    return Metric(
        PREFIX + definition.name,
        aggregate,
        definition.description or f"{aggregate} of {definition.event_type} events",
        source=source,
        value=value,
        unit=definition.unit,
        org_id=definition.org_id,
    )


@dataclass
class CustomMetrics:
    """An organization's custom metrics as the engine reads them."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)  # names whose rollups are current
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it cannot be read


async def load(session: AsyncSession, org_id: str) -> CustomMetrics:
    """An organization's custom metrics; one bad definition does not hide the others."""
    rows = await session.scalars(select(CustomMetric).where(CustomMetric.org_id == org_id))
    loaded = CustomMetrics()
    for row in rows:
        try:
            metric = as_metric(row)
        except ValidationFailed as exc:
            loaded.broken[PREFIX + row.name] = exc.detail
            continue
        loaded.metrics[metric.name] = metric
        if row.rollup_signature and row.rollup_signature == signature([metric]):
            loaded.ready.add(metric.name)
    return loaded


# ------------------------------------------------------------------ the API's service


def _read(row: CustomMetric, metric: Metric | None, *, ready: bool) -> MetricRead:
    described: dict[str, Any] = (
        metric.describe()
        if metric is not None
        else {
            "name": PREFIX + row.name,
            "aggregate": row.aggregate if row.aggregate in tuple(Aggregate) else Aggregate.COUNT,
            "description": row.description or "",
            "unit": row.unit,
            "source": None,
            "dimensions": sorted(row.dimensions),
            "supports_account": True,
            "numerator": None,
            "denominator": None,
            "custom": True,
        }
    )
    return MetricRead(
        **described,
        id=row.id,
        event_type=row.event_type,
        field=row.field,
        filters=row.filters,
        rolled_up=ready,
        rollup_error=row.rollup_error,
        rollup_failed_at=row.rollup_failed_at,
    )


async def list_metrics(session: AsyncSession, *, org_id: str) -> list[MetricRead]:
    """Every declared metric, then the organization's custom ones by name."""
    declared = [MetricRead(**metric.describe()) for metric in registered().values()]
    loaded = await load(session, org_id)
    rows = await session.scalars(
        select(CustomMetric).where(CustomMetric.org_id == org_id).order_by(CustomMetric.name)
    )
    own = [
        _read(
            row,
            loaded.metrics.get(PREFIX + row.name),
            ready=PREFIX + row.name in loaded.ready,
        )
        for row in rows
    ]
    return declared + own


async def _get(session: AsyncSession, org_id: str, name: str) -> CustomMetric:
    short = name.removeprefix(PREFIX)
    row = await session.scalar(
        select(CustomMetric).where(CustomMetric.org_id == org_id, CustomMetric.name == short)
    )
    if row is None:
        raise NotFound("No such custom metric", metric=name)
    return row


async def create_metric(
    session: AsyncSession, *, org_id: str, data: CustomMetricCreate, created_by: str | None
) -> MetricRead:
    """Define a custom metric; 409 if the name is taken, 422 past the bounds."""
    exists = await session.scalar(
        select(CustomMetric.id).where(CustomMetric.org_id == org_id, CustomMetric.name == data.name)
    )
    if exists is not None:
        raise AlreadyExists(f"A custom metric named {data.name!r} exists", metric=data.name)
    defined = await session.scalar(
        select(func.count()).select_from(CustomMetric).where(CustomMetric.org_id == org_id)
    )
    if (defined or 0) >= MAX_CUSTOM_METRICS:
        raise invalid(
            f"An organization has at most {MAX_CUSTOM_METRICS} custom metrics",
            "name",
            limit=MAX_CUSTOM_METRICS,
        )
    row = CustomMetric(
        org_id=org_id,
        name=data.name,
        description=data.description,
        event_type=data.event_type,
        aggregate=data.aggregate,
        field=data.field,
        filters=[f.model_dump(mode="json") for f in data.filters],
        dimensions=data.dimensions,
        unit=data.unit,
        created_by=created_by,
    )
    metric = as_metric(row)  # a 422 for a definition that cannot be computed
    session.add(row)
    await session.flush()
    return _read(row, metric, ready=False)


async def update_metric(
    session: AsyncSession, *, org_id: str, name: str, data: CustomMetricUpdate
) -> MetricRead:
    """Apply the fields sent; the rollups are rebuilt by the next fold."""
    row = await _get(session, org_id, name)
    changes = data.model_dump(mode="json", exclude_unset=True)
    for key, value in changes.items():
        setattr(row, key, value)
    metric = as_metric(row)
    await session.flush()
    await mark_stale(session, row)
    await session.refresh(row)
    return _read(row, metric, ready=False)


async def delete_metric(session: AsyncSession, *, org_id: str, name: str) -> None:
    row = await _get(session, org_id, name)
    await mark_stale(session, row)
    await session.delete(row)
    await session.flush()


async def mark_stale(session: AsyncSession, definition: CustomMetric) -> None:
    """Drop a custom metric's rollups (its definition changed or it is deleted)."""
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == definition.org_id,
            MetricRollup.metric == PREFIX + definition.name,
        )
    )
    await session.execute(
        update(CustomMetric)
        .where(CustomMetric.id == definition.id)
        .values(rollup_signature="", rollup_error=None, rollup_failed_at=None, updated_at=utcnow())
    )


async def failed_metrics(session: AsyncSession, *, org_id: str) -> Sequence[CustomMetric]:
    """The organization's custom metrics whose last fold failed."""
    rows = await session.scalars(
        select(CustomMetric)
        .where(CustomMetric.org_id == org_id, CustomMetric.rollup_error.is_not(None))
        .order_by(CustomMetric.name)
    )
    return rows.all()


def should_retry(definition: CustomMetric, *, now: datetime, after_s: int) -> bool:
    """Whether the fold tries a failed definition again: it changed, or a while passed."""
    failed = definition.rollup_failed_at
    if definition.rollup_error is None or failed is None:
        return True
    return definition.updated_at > failed or (now - failed).total_seconds() >= after_s
