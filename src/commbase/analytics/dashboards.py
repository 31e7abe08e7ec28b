"""The dashboards API's answers, assembled from the engine: series, today so far, current
versus previous period, patterns, geography, call quality, revenue, company and member
aggregates, and CSV exports of series.

Every number comes from the metric registry (rollups plus live tail), so it is exact
to the second; repeats are served from the cache, keyed by the data's version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import sections
from commbase.analytics.enums import Aggregate, Interval
from commbase.analytics.periods import EARLIEST, LATEST, floor, zone
from commbase.analytics.schemas import (
    ALL_TIME,
    CompanyRead,
    DashboardRead,
    GeographyRead,
    PatternsRead,
    QualityRead,
    RevenueRead,
    SectionsRead,
    SeriesRead,
    UserAggregatesRead,
)
from commbase.analytics.service import (
    DEFAULT_GROUP_LIMIT,
    MAX_GROUP_LIMIT,
    MAX_METRICS,
    Analytics,
    SeriesSpec,
)
from commbase.analytics.snapshot_service import CsvExport
from commbase.core.cache import Cache
from commbase.core.errors import NotFound, invalid
from commbase.core.time import utcnow
from commbase.identity import service as identity_service

MAX_RANGE = timedelta(days=3660)
CSV_OTHER = "(other)"  # the group cell of the values beyond the kept groups


@dataclass(frozen=True)
class Reader:
    """Who reads: the organization, and the cache the engine may use."""

    session: AsyncSession
    org_id: str
    cache: Cache | None = None
    ttl_s: int = 300

    def analytics(self) -> Analytics:
        return Analytics(self.session, self.org_id, cache=self.cache, ttl_s=self.ttl_s)


@dataclass(frozen=True)
class SeriesQuery:
    """What a series request asks for, as sent (validated by :func:`series`)."""

    metrics: str
    interval: Interval = Interval.DAY
    start: datetime | None = None
    end: datetime | None = None
    tz: str | None = None
    account_id: str | None = None
    group_by: str | None = None
    filter: str | None = None
    group_limit: int = DEFAULT_GROUP_LIMIT


def time_range(
    start: datetime | None, end: datetime | None, *, default_days: int = 30
) -> tuple[datetime, datetime]:
    """[from, to) of a request: ``to`` defaults to now, ``from`` to ``default_days`` before."""
    end = end if end is not None else utcnow()
    start = start if start is not None else end - timedelta(days=default_days)
    for value, name in ((start, "from"), (end, "to")):
        if not EARLIEST <= value <= LATEST:
            raise invalid(
                f"`{name}` lies between {EARLIEST.date()} and {LATEST.date()}",
                name,
                location="query",
            )
    if start >= end:
        raise invalid("`from` must be before `to`", "from", location="query")
    if end - start > MAX_RANGE:
        raise invalid("The range may span at most 10 years", "from", location="query")
    return start, end


def _names(metrics: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in metrics.split(",") if n.strip()))
    if not names:
        raise invalid("Name at least one metric", "metrics", location="query")
    if len(names) > MAX_METRICS:
        raise invalid(f"At most {MAX_METRICS} metrics per query", "metrics", location="query")
    return names


def _where(filter_: str | None) -> tuple[str, str] | None:
    if filter_ is None:
        return None
    dimension, sep, value = filter_.partition(":")
    if not sep or not dimension:
        raise invalid("`filter` is dimension:value, e.g. country:US", "filter", location="query")
    return dimension, value


async def _timezone(reader: Reader) -> str:
    org = await identity_service.get_organization(reader.session, org_id=reader.org_id)
    return org.timezone


async def _series(reader: Reader, query: SeriesQuery, *, compare: bool) -> dict[str, Any]:
    start, end = time_range(query.start, query.end)
    spec = SeriesSpec(
        _names(query.metrics),
        query.interval,
        start,
        end,
        zone(query.tz or await _timezone(reader)),
        account=query.account_id,
        group_by=query.group_by,
        where=_where(query.filter),
        compare=compare,
        group_limit=query.group_limit,
    )
    return await reader.analytics().series(spec)


async def series(reader: Reader, query: SeriesQuery, *, compare: bool = True) -> SeriesRead:
    """Points per interval over [from, to), each series with its total, the previous
    period's total (same length, just before) and the growth in percent."""
    return SeriesRead.model_validate(await _series(reader, query, compare=compare))


async def series_csv(reader: Reader, query: SeriesQuery) -> CsvExport:
    """A series as CSV rows: metric, group, start, value."""
    result = await _series(reader, query, compare=False)

    async def rows() -> AsyncIterator[list[Any]]:
        for entry in result["series"]:
            group = CSV_OTHER if entry["other"] else entry["group"] or ""
            for point in entry["points"]:
                yield [entry["metric"], group, point["start"], point["value"]]

    return CsvExport(["metric", "group", "start", "value"], rows(), "series.csv")


def section_names(raw: str | None) -> frozenset[str] | None:
    """``sections=calls,conversations`` checked against the declared sections (422
    naming the unknown ones); None (every section) when not given."""
    if raw is None:
        return None
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    declared = sections.declared()
    unknown = sorted(names - declared)
    if not names or unknown:
        raise invalid(
            f"Unknown sections {', '.join(unknown) or '(none named)'}; "
            f"they are {', '.join(sorted(declared))}",
            "sections",
            location="query",
        )
    return names


async def realtime(
    reader: Reader, *, account_id: str | None = None, only: frozenset[str] | None = None
) -> SectionsRead:
    """The seed's getRealTimeMetrics, exact to the second: every snapshot section (or the
    ``only`` ones) from local midnight until now."""
    return await realtime_in(
        reader, zone(await _timezone(reader)), account_id=account_id, only=only
    )


async def realtime_in(
    reader: Reader,
    tz: ZoneInfo,
    *,
    account_id: str | None = None,
    only: frozenset[str] | None = None,
) -> SectionsRead:
    """:func:`realtime` in the time zone ``tz``."""
    now = utcnow()
    result = await sections.compute(
        reader.session,
        reader.org_id,
        floor(now, Interval.DAY, tz),
        now + timedelta(microseconds=1),
        tz,
        account=account_id,
        only=only,
    )
    return SectionsRead.model_validate(result)


async def dashboard(reader: Reader, *, days: int, account_id: str | None = None) -> DashboardRead:
    """The seed's getDashboardMetrics: the last ``days`` local days including today, the
    same number of days before them, and the growth of every value. Running totals
    (``contacts.total``) compare with their value when the previous period ended."""
    tz = zone(await _timezone(reader))
    now = utcnow()
    start = floor(now, Interval.DAY, tz)
    for _ in range(days - 1):
        start = floor(start - timedelta(hours=1), Interval.DAY, tz)
    result = await sections.compute(
        reader.session,
        reader.org_id,
        start,
        now + timedelta(microseconds=1),
        tz,
        account=account_id,
        previous=True,
    )
    current = {k: v for k, v in result.items() if k not in ("previous", "growth")}
    return DashboardRead(
        days=days,
        current=SectionsRead.model_validate(current),
        previous=result["previous"],
        growth=result["growth"],
    )


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 6)


async def patterns(
    reader: Reader,
    *,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    tz: str | None,
    account_id: str | None,
) -> PatternsRead:
    """24 local hours and 7 weekdays (Monday first) of an additive metric (count or
    sum), and its month-by-month trend, over [from, to) (default 90 days)."""
    start, end = time_range(start, end, default_days=90)
    analytics = reader.analytics()
    (found,) = await analytics.resolve([metric])
    if found.aggregate not in (Aggregate.COUNT, Aggregate.SUM):
        raise invalid(
            "Patterns add values up: use a count or sum metric", "metric", location="query"
        )
    zone_ = zone(tz or await _timezone(reader))
    hourly = await analytics.series(
        SeriesSpec((metric,), Interval.HOUR, start, end, zone_, account=account_id, compare=False)
    )
    by_hour = [0.0] * 24
    by_weekday = [0.0] * 7
    for point in hourly["series"][0]["points"]:
        local = datetime.fromisoformat(point["start"]).astimezone(zone_)
        by_hour[local.hour] += point["value"]
        by_weekday[local.weekday()] += point["value"]
    monthly = await analytics.series(
        SeriesSpec((metric,), Interval.MONTH, start, end, zone_, account=account_id, compare=False)
    )
    return PatternsRead.model_validate(
        {
            "metric": metric,
            "timezone": str(zone_),
            "from": start,
            "to": end,
            "hourlyDistribution": [_number(v) for v in by_hour],
            "dailyDistribution": [_number(v) for v in by_weekday],
            "monthlyTrend": monthly["series"][0]["points"],
        }
    )


def _grouped(result: dict[str, Any], metric: str) -> dict[str, Any]:
    """A grouped series' totals by group value (the "other" bucket left out)."""
    return {
        e["group"]: e["total"] for e in result["series"] if e["metric"] == metric and not e["other"]
    }


async def geography(
    reader: Reader, *, start: datetime | None, end: datetime | None, limit: int
) -> GeographyRead:
    """Countries by calls placed (with what they cost: call revenue) and by visits;
    cities by pageviews (calls carry no city)."""
    start, end = time_range(start, end)
    org = await identity_service.get_organization(reader.session, org_id=reader.org_id)
    analytics = reader.analytics()
    tz = zone(org.timezone)

    async def top(metrics: tuple[str, ...], dimension: str) -> dict[str, Any]:
        return await analytics.series(
            SeriesSpec(
                metrics,
                Interval.YEAR,
                start,
                end,
                tz,
                group_by=dimension,
                compare=False,
                group_limit=limit,
            )
        )

    calls = await top(("calls.total", "calls.cost"), "country")
    counts, revenue = _grouped(calls, "calls.total"), _grouped(calls, "calls.cost")
    views = _grouped(await top(("pageviews.total",), "city"), "pageviews.total")
    visits = _grouped(await top(("visits.total",), "country"), "visits.total")
    return GeographyRead.model_validate(
        {
            "from": start,
            "to": end,
            "currency": org.currency,
            "topCountries": [
                {"country": c or None, "calls": n, "revenue": revenue.get(c, 0)}
                for c, n in counts.items()
            ],
            "topCities": [{"city": c or None, "pageviews": n} for c, n in views.items()],
            "topVisitCountries": [{"country": c or None, "visits": n} for c, n in visits.items()],
        }
    )


QUALITY = (
    "calls.total",
    "calls.mos_avg",
    "calls.latency_avg",
    "calls.jitter_avg",
    "calls.packet_loss_avg",
    "calls.reconnected",
    "events.quality_degraded",
)


async def quality(reader: Reader, *, start: datetime | None, end: datetime | None) -> QualityRead:
    """Call quality over [from, to): MOS, latency, jitter, packet loss with the previous
    period's values, and calls by quality label."""
    start, end = time_range(start, end)
    analytics = reader.analytics()
    tz = zone(await _timezone(reader))
    totals = await analytics.totals(QUALITY, start, end, tz=tz, compare=True)
    labels = await analytics.series(
        SeriesSpec(
            ("calls.total",),
            Interval.YEAR,
            start,
            end,
            tz,
            group_by="quality",
            compare=False,
            group_limit=MAX_GROUP_LIMIT,
        )
    )
    return QualityRead.model_validate(
        {
            "from": start,
            "to": end,
            "metrics": {
                name: {k: v[k] for k in ("total", "previous_total", "growth")}
                for name, v in totals.items()
            },
            "distribution": {k or "unrated": v for k, v in _grouped(labels, "calls.total").items()},
        }
    )


REVENUE = ("revenue.topups", "revenue.call_charges", "revenue.charges", "revenue.refunds")


async def revenue(
    reader: Reader, *, interval: Interval, start: datetime | None, end: datetime | None
) -> RevenueRead:
    """Top-ups (money in), charges and refunds per interval in minor units, as the seed's
    monthly revenue report, with MRR and ARR (in the organization's currency) at the
    range's end, from the MRR movements (``billing.revenue.metrics``)."""
    query = SeriesQuery(",".join(REVENUE), interval, start, end)
    result = await _series(reader, query, compare=True)
    org = await identity_service.get_organization(reader.session, org_id=reader.org_id)
    recurring = await reader.analytics().totals(
        ["revenue.mrr", "revenue.arr"],
        ALL_TIME,
        datetime.fromisoformat(str(result["to"])),
        tz=zone(org.timezone),
    )
    return RevenueRead.model_validate(
        {
            **result,
            "currency": org.currency,
            "mrr": int(recurring["revenue.mrr"]["total"]),
            "arr": int(recurring["revenue.arr"]["total"]),
        }
    )


COMPANY = {
    "totalCalls": "calls.total",
    "totalDuration": "calls.duration",
    "averageCallDuration": "calls.duration_avg",
    "averageRating": "calls.rating_avg",
    "totalRevenue": "revenue.topups",
    "successRate": "calls.success_rate",
    "responseTime": "calls.response_time_avg",
}
USER = {
    "totalCalls": "calls.total",
    "totalVideoCalls": "calls.video",
    "totalCallDuration": "calls.duration",
    "averageCallDuration": "calls.duration_avg",
    "averageRating": "calls.rating_avg",
    "reviewCount": "calls.reviewed",
    "successRate": "calls.success_rate",
    "responseTime": "calls.response_time_avg",
}


async def _all_time(
    reader: Reader, mapping: dict[str, str], where: tuple[str, str] | None = None
) -> dict[str, Any]:
    totals = await reader.analytics().totals(
        list(dict.fromkeys(mapping.values())),
        ALL_TIME,
        utcnow() + timedelta(microseconds=1),
        tz=zone(await _timezone(reader)),
        where=where,
    )
    return {key: totals[name]["total"] for key, name in mapping.items()}


async def company(reader: Reader) -> CompanyRead:
    """The organization's all-time call aggregates."""
    return CompanyRead.model_validate(await _all_time(reader, COMPANY))


async def user_aggregates(reader: Reader, *, user_id: str) -> UserAggregatesRead:
    """One member's all-time call aggregates; 404 for anyone not a member."""
    member = await identity_service.get_membership(
        reader.session, org_id=reader.org_id, user_id=user_id
    )
    if member is None:
        raise NotFound("No such member", user_id=user_id)
    values = await _all_time(reader, USER, where=("user", user_id))
    return UserAggregatesRead.model_validate({"user_id": user_id, **values})
