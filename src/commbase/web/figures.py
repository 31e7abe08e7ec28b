"""A page's figures, read from the ``/v1`` API for the page's filters.

The cards and charts of a page come from one ``GET /v1/analytics/series`` (every
metric of the page, with the previous period), each ranking from the same route
with ``group_by``, and each table from the route it names, each answered by the
route's own function in process (:mod:`commbase.web.reads`); nothing here computes
a figure of its own, it only arranges the API's answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from commbase.web.api import ApiRefused
from commbase.web.filters import Filters
from commbase.web.pages import PageSpec, label
from commbase.web.reads import Reads

API_PREFIX = "/dashboard/api"  # GET /dashboard/api/v1/... forwards to /v1/... (routes.py)
RANKING_LIMIT = 8


@dataclass(slots=True)
class Card:
    metric: str
    label: str
    unit: str
    value: Any
    previous: Any
    growth: float | None
    spark: list[Any]


@dataclass(slots=True)
class ChartData:
    title: str
    csv_url: str
    x: list[float]
    lines: list[dict[str, Any]]  # {"label", "unit", "values"}


@dataclass(slots=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    csv_url: str | None = None
    source: str = ""
    note: str | None = None
    units: list[str] = field(default_factory=list)  # per column; "" shows the value as is
    chart: ChartData | None = None  # a chart drawn from the same answer (after the series')


@dataclass(slots=True)
class Figures:
    cards: list[Card] = field(default_factory=list)
    charts: list[ChartData] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    error: str | None = None

    def chart_json(self) -> list[dict[str, Any]]:
        return [{"title": c.title, "x": c.x, "lines": c.lines} for c in self.charts]


def csv_url(path: str, params: dict[str, str]) -> str:
    return f"{API_PREFIX}{path}?{urlencode(params)}"


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def build(api: Reads, spec: PageSpec, filters: Filters, now: datetime) -> Figures:
    """Every figure of ``spec`` under ``filters``; an API refusal becomes the page's
    error (e.g. an unknown channel account), never a made-up value."""
    query = filters.api_query(now)
    figures = Figures()
    try:
        series, *extra = await asyncio.gather(
            _series(api, spec, query, compare=filters.compare),
            *(_ranking(api, r.title, r.metric, r.group_by, query) for r in spec.rankings),
            *(TABLES[name](api, query) for name in spec.tables),
        )
    except ApiRefused as refused:
        figures.error = f"{refused.detail} ({refused.status})"
        return figures
    figures.cards, figures.charts = _cards_and_charts(spec, series, query)
    figures.tables = list(extra)
    figures.charts += [t.chart for t in figures.tables if t.chart is not None]
    return figures


async def _series(api: Reads, spec: PageSpec, query: dict[str, str], *, compare: bool) -> Any:
    metrics = list(dict.fromkeys([*spec.cards, *(m for c in spec.charts for m in c.metrics)]))
    return await api.get(
        "/v1/analytics/series",
        {**query, "metrics": ",".join(metrics), "compare": "true" if compare else "false"},
    )


def _cards_and_charts(
    spec: PageSpec, series: Any, query: dict[str, str]
) -> tuple[list[Card], list[ChartData]]:
    entries = {entry["metric"]: entry for entry in series["series"]}
    cards = [
        Card(
            metric=metric,
            label=label(metric),
            unit=entries[metric]["unit"],
            value=entries[metric]["total"],
            previous=entries[metric].get("previous_total"),
            growth=entries[metric].get("growth"),
            spark=[p["value"] for p in entries[metric]["points"]],
        )
        for metric in spec.cards
    ]
    charts = []
    for chart in spec.charts:
        first = entries[chart.metrics[0]]
        charts.append(
            ChartData(
                title=chart.title,
                csv_url=csv_url(
                    "/v1/analytics/series.csv", {**query, "metrics": ",".join(chart.metrics)}
                ),
                x=[epoch(p["start"]) for p in first["points"]],
                lines=[
                    {
                        "label": label(m),
                        "unit": entries[m]["unit"],
                        "values": [p["value"] for p in entries[m]["points"]],
                    }
                    for m in chart.metrics
                ],
            )
        )
    return cards, charts


async def _ranking(
    api: Reads, title: str, metric: str, group_by: str, query: dict[str, str]
) -> Table:
    params = {
        **query,
        "metrics": metric,
        "group_by": group_by,
        "group_limit": str(RANKING_LIMIT),
        "compare": "false",
    }
    answer = await api.get("/v1/analytics/series", params)
    rows = sorted(
        ([e["group"] or "(none)", e["total"]] for e in answer["series"] if e["total"]),
        key=lambda row: -float(row[1] or 0),
    )
    return Table(
        title=title,
        columns=[group_by, label(metric)],
        rows=rows,
        units=["", answer["series"][0]["unit"] if answer["series"] else ""],
        csv_url=csv_url(
            "/v1/analytics/series.csv", {k: v for k, v in params.items() if k != "compare"}
        ),
        source=f"/v1/analytics/series?metrics={metric}&group_by={group_by}",
    )


async def guarded(title: str, source: str, read: Callable[[], Awaitable[Table]]) -> Table:
    """A table the signed-in role may not read says so instead of failing the page."""
    try:
        return await read()
    except ApiRefused as refused:
        if refused.status in (403, 404):
            return Table(title, [], [], source=source, note=refused.detail)
        raise


async def _today(api: Reads, query: dict[str, str]) -> Table:
    params = {"sections": "calls,conversations"}  # what the table shows: only they are computed
    if "account_id" in query:
        params["account_id"] = query["account_id"]
    today = await api.get("/v1/analytics/realtime", params)
    rows = [
        [f"{section}.{key}", value]
        for section in ("calls", "conversations")
        for key, value in today.get(section, {}).items()
    ]
    return Table(
        "Today so far",
        ["figure", "value"],
        rows,
        source="/v1/analytics/realtime?sections=calls,conversations",
    )


async def _report(api: Reads, query: dict[str, str], group: str, title: str) -> Table:
    params = {"from": query["from"], "to": query["to"], "group_by": group}
    report = await api.get("/v1/reports/messaging", params)
    columns = [
        group,
        "conversations",
        "incoming_messages",
        "outgoing_messages",
        "avg_first_response_s",
        "resolutions",
        "avg_resolution_s",
    ]
    rows = [
        [row.get(c) if c != group else (row["key"] or "(none)") for c in columns]
        for row in report["data"]
    ]
    return Table(title, columns, rows, source=f"/v1/reports/messaging?group_by={group}")


async def _agents(api: Reads, query: dict[str, str]) -> Table:
    return await _report(api, query, "agent", "Agents' activity (conversations)")


async def _accounts(api: Reads, query: dict[str, str]) -> Table:
    return await _report(api, query, "account", "Per channel account")


async def _campaigns(api: Reads, query: dict[str, str]) -> Table:
    async def read() -> Table:
        page = await api.get("/v1/campaigns", {"limit": "10"})
        columns = ["name", "status", "created_at"]
        rows = [[c.get(k) for k in columns] for c in page["data"]]
        return Table("Latest campaigns", columns, rows, source="/v1/campaigns")

    return await guarded("Latest campaigns", "/v1/campaigns", read)


async def _forecast(api: Reads, query: dict[str, str]) -> Table:
    async def read() -> Table:
        answer = await api.get("/v1/billing/forecast")
        rows = [list(item.values()) for item in answer.get("data", [])]
        columns = list(answer["data"][0]) if answer.get("data") else ["(no renewals due)"]
        return Table(
            f"Billing forecast, next {answer.get('days')} days",
            columns,
            rows,
            source="/v1/billing/forecast",
        )

    return await guarded("Billing forecast", "/v1/billing/forecast", read)


async def _mrr_movements(api: Reads, query: dict[str, str]) -> Table:
    async def read() -> Table:
        page = await api.get("/v1/billing/mrr-movements", {"limit": "10"})
        columns = ["occurred_at", "kind", "amount", "currency", "customer_id"]
        rows = [[m.get(k) for k in columns] for m in page["data"]]
        return Table("Latest MRR movements", columns, rows, source="/v1/billing/mrr-movements")

    return await guarded("Latest MRR movements", "/v1/billing/mrr-movements", read)


async def _webhooks(api: Reads, query: dict[str, str]) -> Table:
    async def read() -> Table:
        page = await api.get("/v1/webhooks", {"limit": "20"})
        columns = [
            "url",
            "status",
            "successful_deliveries",
            "failed_deliveries",
            "consecutive_failures",
            "last_failure_at",
        ]
        rows = [[e.get(k) for k in columns] for e in page["data"]]
        return Table("Webhook delivery health", columns, rows, source="/v1/webhooks")

    return await guarded("Webhook delivery health", "/v1/webhooks", read)


async def _jobs(api: Reads, query: dict[str, str]) -> Table:
    health = await api.get("/v1/analytics/health")
    rows = [
        [name, job.get("last_status"), job.get("last_run_at"), job.get("last_success_at")]
        for name, job in sorted(health.get("jobs", {}).items())
    ]
    return Table(
        "Job runs",
        ["job", "last_status", "last_run_at", "last_success_at"],
        rows,
        source="/v1/analytics/health",
    )


TABLES: dict[str, Callable[[Reads, dict[str, str]], Awaitable[Table]]] = {
    "today": _today,
    "agents": _agents,
    "accounts": _accounts,
    "campaigns": _campaigns,
    "forecast": _forecast,
    "mrr_movements": _mrr_movements,
    "webhooks": _webhooks,
    "jobs": _jobs,
}


def _register_more() -> None:
    from commbase.web import live_tables  # it builds on this module's Table and helpers

    TABLES.update(live_tables.TABLES)


_register_more()
