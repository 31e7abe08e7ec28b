"""The snapshot sections over any range: ``period``, one section per domain and
``generatedAt``, in seed 001's shape.

A domain adds its section with ``registry.register_section`` (messaging will add
``messages``, ``campaigns`` and ``conversations`` next to today's ``calls``,
``revenue``, ``users``, ``contacts`` and ``tracking``); each key of a section
names a registered metric, counted over the range or, for ``cumulative`` keys
(running totals such as ``contacts.total``), from the beginning up to the
range's end. Stored snapshots (``snapshots.py``) and the live dashboards
(``dashboards.py``) are both computed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.calculations import growth_rate
from commbase.analytics.registry import Entry, base_metrics, derived, lookup, sections
from commbase.analytics.schemas import ALL_TIME
from commbase.analytics.service import Analytics
from commbase.core.time import utcnow


def declared() -> frozenset[str]:
    """The names of every declared section."""
    return frozenset(sections())


def _wanted(account: str | None, only: frozenset[str] | None = None) -> dict[str, Entry]:
    """Every section entry (of the ``only`` sections), keyed by metric and kind (only
    those split by account)."""
    wanted: dict[str, Entry] = {}
    for name, entries in sections().items():
        if only is not None and name not in only:
            continue
        for declared in entries.values():
            entry = declared.for_account(account)
            if account is not None:
                # A ratio splits by account when both its sides do.
                bases = base_metrics(lookup(entry.metric))
                if any(base.source is None or base.source.account is None for base in bases):
                    continue
            wanted[f"{entry.metric}:{entry.cumulative}"] = entry
    return wanted


async def compute(
    session: AsyncSession,
    org_id: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    *,
    account: str | None = None,
    previous: bool = False,
    only: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The sections over [start, end) (with ``previous``: also the prior period and growth);
    with ``only``, just those sections (what is not asked for is not computed).

    A running total (a ``cumulative`` entry) is its value at the period's end; its
    previous value is the total at the end of the previous period (the period's
    start), not what the previous period added.
    """
    analytics = Analytics(session, org_id)
    wanted = _wanted(account, only)
    period = [e.metric for e in wanted.values() if not e.cumulative]
    cumulative = [e.metric for e in wanted.values() if e.cumulative]
    totals = (
        await analytics.totals(period, start, end, tz=tz, account=account, compare=previous)
        if period
        else {}
    )
    running: dict[str, dict[str, Any]] = {}
    if cumulative:
        running = await analytics.totals(cumulative, ALL_TIME, end, tz=tz, account=account)
        if previous:
            before = (
                await analytics.totals(cumulative, ALL_TIME, start, tz=tz, account=account)
                if start > ALL_TIME
                else {}
            )
            for name, entry in running.items():
                earlier = before.get(name, {}).get("total", 0)
                entry["previous_total"] = earlier
                entry["growth"] = growth_rate(entry["total"], earlier)

    def build(field: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section, entries in sections().items():
            if only is not None and section not in only:
                continue
            values = {}
            for key, declared in entries.items():
                entry = declared.for_account(account)
                source = running if entry.cumulative else totals
                if entry.metric in source:
                    values[key] = source[entry.metric].get(field, 0)
            if values:
                out[section] = values
        return out

    result: dict[str, Any] = {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        **build("total"),
        "generatedAt": utcnow().isoformat(),
    }
    if previous:
        result["previous"] = build("previous_total")
        result["growth"] = build("growth")
    if account is None:
        await _add_derived(session, org_id, start, end, tz, result, previous=previous, only=only)
    return result


async def _add_derived(
    session: AsyncSession,
    org_id: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    result: dict[str, Any],
    *,
    previous: bool,
    only: frozenset[str] | None = None,
) -> None:
    """Domains' derived values (``registry.register_derived``); with ``previous``, also
    over the period of the same length before, and their growth."""
    for section, computes in derived().items():
        if only is not None and section not in only:
            continue
        for compute in computes:
            values = await compute(session, org_id, start, end, tz)
            result.setdefault(section, {}).update(values)
            if previous:
                earlier = await compute(session, org_id, start - (end - start), start, tz)
                result["previous"].setdefault(section, {}).update(earlier)
                result["growth"].setdefault(section, {}).update(
                    {key: growth_rate(value, earlier.get(key, 0)) for key, value in values.items()}
                )
