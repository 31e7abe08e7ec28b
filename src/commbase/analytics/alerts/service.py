"""Threshold alerts: a metric over a trailing window compared with a threshold, every minute.

An alert fires (``analytics.alert.triggered`` in the outbox) when its metric
over ``[now - window, now)`` crosses the threshold with at least ``min_count``
facts behind it, so one failed call out of one does not page anyone. While the
condition holds the event repeats once per cooldown; when it stops holding the
alert resolves (``analytics.alert.resolved``). A value that is undefined -- a
ratio over nothing, the average of nothing -- never crosses a threshold.

The window is a span of absolute time, so the organization's time zone does
not change it (it matters only to calendar periods, which alerts do not use).
An alert whose check fails (its custom metric was deleted or cannot be
computed) is marked ``error`` and the other alerts are checked as usual.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import custom, events, planner, query
from commbase.analytics.alerts.models import Alert
from commbase.analytics.alerts.schemas import AlertCreate, AlertTestResult, AlertUpdate
from commbase.analytics.enums import Aggregate, AlertState, Comparator
from commbase.analytics.query import Cell
from commbase.analytics.registry import Metric, base_metrics, check_dimension, lookup
from commbase.analytics.scope import Scope
from commbase.analytics.service import Analytics, value_of
from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.db import Database
from commbase.core.errors import Conflict, NotFound, ValidationFailed, invalid
from commbase.core.http import ClientInfo
from commbase.core.jobs import JobContext, job
from commbase.core.pagination import PageParams, paginate
from commbase.identity import audit
from commbase.messaging.accounts import service as accounts_service

log = structlog.get_logger("commbase.analytics.alerts")

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    Comparator.GT: operator.gt,
    Comparator.GTE: operator.ge,
    Comparator.LT: operator.lt,
    Comparator.LTE: operator.le,
}
# Fields that decide which facts an alert reads: checked against the registry on change.
SCOPE_FIELDS = ("metric", "account_id", "dimension", "dimension_value")


def _invalid(field: str, message: str, **extensions: Any) -> ValidationFailed:
    return invalid(message, field, **extensions)


async def _metric(analytics: Analytics, name: str) -> tuple[Metric, Mapping[str, Metric], set[str]]:
    """The named metric, its organization's custom metrics (only for a custom one) and
    the custom metrics whose rollups are current. Raises NotFound."""
    extra: Mapping[str, Metric] = {}
    ready: set[str] = set()
    if name.startswith(custom.PREFIX):
        extra, ready = await analytics.custom_metrics()
    return lookup(name, extra), extra, ready


async def _check_scope(
    session: AsyncSession,
    *,
    org_id: str,
    metric: str,
    account_id: str | None,
    dimension: str | None,
    dimension_value: str | None,
) -> None:
    """Raise ValidationFailed unless the metric exists and can be sliced as asked;
    NotFound for a channel account id (``chan_...``) not of the organization, as the
    series and realtime routes answer."""
    if account_id is not None:
        await accounts_service.check_analytics_account(
            session, org_id=org_id, account_id=account_id
        )
    try:
        found, extra, _ = await _metric(Analytics(session, org_id), metric)
    except NotFound as exc:
        raise _invalid("metric", f"No metric named {metric!r}", metric=metric) from exc
    if (dimension is None) != (dimension_value is None):
        missing = "dimension_value" if dimension_value is None else "dimension"
        raise _invalid(missing, "dimension and dimension_value go together")
    if dimension is not None:
        try:
            check_dimension(found, dimension, extra)
        except ValidationFailed as exc:
            raise _invalid("dimension", exc.detail, **exc.extensions) from exc
    bases = base_metrics(found, extra)
    if account_id is not None and any(b.source is None or b.source.account is None for b in bases):
        raise _invalid("account_id", f"Metric {metric!r} is not split by channel account")


# ------------------------------------------------------------------ the API's service


async def create_alert(
    session: AsyncSession, *, data: AlertCreate, actor: Principal, client: ClientInfo
) -> Alert:
    await _check_scope(
        session,
        org_id=actor.org_id,
        metric=data.metric,
        account_id=data.account_id,
        dimension=data.dimension,
        dimension_value=data.dimension_value,
    )
    alert = Alert(org_id=actor.org_id, state=AlertState.OK, **data.model_dump())
    session.add(alert)
    await session.flush()
    await _audit(session, alert, "alert.created", actor, client, {"metric": alert.metric})
    return alert


async def get_alert(session: AsyncSession, *, org_id: str, alert_id: str) -> Alert:
    alert = await session.scalar(select(Alert).where(Alert.org_id == org_id, Alert.id == alert_id))
    if alert is None:
        raise NotFound("Alert not found")
    return alert


async def list_alerts(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    state: str | None = None,
    enabled: bool | None = None,
) -> tuple[Sequence[Alert], str | None]:
    statement = select(Alert).where(Alert.org_id == org_id)
    if state is not None:
        statement = statement.where(Alert.state == state)
    if enabled is not None:
        statement = statement.where(Alert.enabled.is_(enabled))
    return await paginate(session, statement, id_column=Alert.id, params=params)


async def update_alert(
    session: AsyncSession,
    *,
    alert: Alert,
    changes: AlertUpdate,
    actor: Principal,
    client: ClientInfo,
) -> Alert:
    """Apply the fields sent. A disabled alert is no longer checked, so it reads ``ok``."""
    data = changes.model_dump(exclude_unset=True)
    # A broken alert can still be renamed or disabled: only a new scope is checked.
    if any(field in data for field in SCOPE_FIELDS):
        merged = {field: data.get(field, getattr(alert, field)) for field in SCOPE_FIELDS}
        await _check_scope(session, org_id=alert.org_id, **merged)
    for field, value in data.items():
        setattr(alert, field, value)
    if data.get("enabled") is False:
        alert.state = AlertState.OK
    await session.flush()
    await _audit(session, alert, "alert.updated", actor, client, {"fields": sorted(data)})
    return alert


async def delete_alert(
    session: AsyncSession, *, alert: Alert, actor: Principal, client: ClientInfo
) -> None:
    await _audit(session, alert, "alert.deleted", actor, client, {"metric": alert.metric})
    await session.delete(alert)
    await session.flush()


async def _audit(
    session: AsyncSession,
    alert: Alert,
    action: str,
    actor: Principal,
    client: ClientInfo,
    details: dict[str, Any],
) -> None:
    await audit.record(
        session,
        org_id=alert.org_id,
        action=action,
        actor=actor,
        target_type="alert",
        target_id=alert.id,
        client=client,
        details={"name": alert.name, **details},
    )


# ------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class Evaluation:
    value: float | None  # None: undefined (a ratio over nothing, the average of nothing)
    count: int  # facts in the window; for a ratio, its denominator's
    window_start: datetime
    window_end: datetime
    condition_met: bool


def _facts(metric: Metric, cells: Mapping[str, Cell], extra: Mapping[str, Metric]) -> int:
    """How many facts a metric's value rests on: a ratio's are its denominator's."""
    if metric.aggregate == Aggregate.RATIO:
        assert metric.denominator
        return _facts(lookup(metric.denominator, extra), cells, extra)
    return cells.get(metric.name, Cell()).count


def _value(metric: Metric, cells: Mapping[str, Cell], extra: Mapping[str, Metric]) -> float | None:
    if metric.aggregate == Aggregate.RATIO:
        assert metric.denominator
        if not value_of(lookup(metric.denominator, extra), cells, extra):
            return None
    elif metric.aggregate == Aggregate.AVG and not cells.get(metric.name, Cell()).count:
        return None
    return float(value_of(metric, cells, extra))


async def evaluate(
    session: AsyncSession, alert: Alert, *, now: datetime, analytics: Analytics | None = None
) -> Evaluation:
    """The alert's metric over ``[now - window, now)``; raises Conflict if it cannot be."""
    analytics = analytics or Analytics(session, alert.org_id)
    try:
        metric, extra, ready = await _metric(analytics, alert.metric)
        if alert.dimension is not None:
            check_dimension(metric, alert.dimension, extra)
    except (NotFound, ValidationFailed) as exc:
        raise Conflict(f"The alert cannot be checked: {exc.detail}", metric=alert.metric) from exc
    start = now - timedelta(minutes=alert.window_minutes)
    where = (alert.dimension, alert.dimension_value or "") if alert.dimension else None
    bases = list({b.name: b for b in base_metrics(metric, extra)}.values())
    plan = await planner.plan(
        session,
        bases,
        [start, now],
        Scope(alert.org_id, alert.account_id, None, where),
        custom_ready=ready,
    )
    cells, distinct = await query.execute(session, plan)
    cells.update(distinct)
    totals = {name: groups.get(None, [Cell()])[0] for name, groups in cells.items()}
    value = _value(metric, totals, extra)
    count = _facts(metric, totals, extra)
    met = (
        value is not None
        and count >= alert.min_count
        and COMPARATORS[alert.comparator](value, alert.threshold)
    )
    return Evaluation(value, count, start, now, met)


async def try_alert(session: AsyncSession, *, alert: Alert, now: datetime) -> AlertTestResult:
    """What a check now would find and do; nothing is recorded or changed."""
    evaluation = await evaluate(session, alert, now=now)
    return AlertTestResult(
        value=evaluation.value,
        count=evaluation.count,
        condition_met=evaluation.condition_met,
        would_fire=evaluation.condition_met and is_due(alert, now=now),
        window_start=evaluation.window_start,
        window_end=evaluation.window_end,
    )


def is_due(alert: Alert, *, now: datetime) -> bool:
    """Whether a met condition sends the event now: first time, or the cooldown has passed."""
    if alert.state != AlertState.TRIGGERED or alert.last_triggered_at is None:
        return True
    return now >= alert.last_triggered_at + timedelta(minutes=alert.cooldown_minutes)


def _payload(alert: Alert, evaluation: Evaluation) -> dict[str, Any]:
    return events.AlertPayload(
        id=alert.id,
        name=alert.name,
        metric=alert.metric,
        comparator=alert.comparator,
        threshold=alert.threshold,
        value=evaluation.value,
        count=evaluation.count,
        window_minutes=alert.window_minutes,
        window_start=evaluation.window_start,
        window_end=evaluation.window_end,
        account_id=alert.account_id,
        dimension=alert.dimension,
        dimension_value=alert.dimension_value,
    ).model_dump(mode="json")


async def apply(
    session: AsyncSession, alert: Alert, evaluation: Evaluation, *, now: datetime
) -> str | None:
    """Move the alert to what the evaluation found; returns the event type recorded, if any."""
    alert.last_value = evaluation.value
    alert.last_checked_at = now
    recorded: str | None = None
    if evaluation.condition_met:
        if is_due(alert, now=now):
            recorded = events.ALERT_TRIGGERED
            alert.state = AlertState.TRIGGERED
            alert.last_triggered_at = now
    elif alert.state == AlertState.TRIGGERED:
        recorded = events.ALERT_RESOLVED
        alert.state = AlertState.OK
    else:
        alert.state = AlertState.OK
    if recorded is not None:
        await outbox.record(session, recorded, _payload(alert, evaluation), org_id=alert.org_id)
    return recorded


async def _check_organization(session: AsyncSession, *, org_id: str, now: datetime) -> int:
    alerts = (
        await session.scalars(
            select(Alert).where(Alert.org_id == org_id, Alert.enabled.is_(True)).order_by(Alert.id)
        )
    ).all()
    analytics = Analytics(session, org_id)
    for alert in alerts:
        try:
            # A failed statement would end a PostgreSQL transaction: keep it in a savepoint.
            async with session.begin_nested():
                evaluation = await evaluate(session, alert, now=now, analytics=analytics)
        except Exception as exc:
            log.warning("alert check failed", org_id=org_id, alert_id=alert.id, error=str(exc))
            alert.state, alert.last_value, alert.last_checked_at = AlertState.ERROR, None, now
            continue
        await apply(session, alert, evaluation, now=now)
    return len(alerts)


async def check_alerts(database: Database, *, now: datetime, org_id: str | None = None) -> int:
    """Check every enabled alert of every organization (or only ``org_id``'s); returns
    how many were checked."""
    async with database.sessionmaker() as session:
        query = select(Alert.org_id).where(Alert.enabled.is_(True)).distinct()
        if org_id is not None:
            query = query.where(Alert.org_id == org_id)
        org_ids = list(await session.scalars(query))
    checked = 0
    for each in sorted(org_ids):
        try:
            # One transaction per organization: its events and states commit together.
            async with database.sessionmaker() as session:
                checked += await _check_organization(session, org_id=each, now=now)
                await session.commit()
        except Exception as exc:
            log.error("alert checks failed", org_id=each, error=str(exc))
    return checked


@job("analytics.check_alerts", schedule="* * * * *", per_organization=True)
async def check_alerts_job(ctx: JobContext) -> int:
    """Check threshold alerts; record analytics.alert.triggered / resolved in the outbox."""
    # A run for one organization (JobContext.org_id) checks only its alerts.
    return await check_alerts(ctx.database, now=ctx.now, org_id=ctx.org_id)
