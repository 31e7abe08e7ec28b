"""Tables (and one chart) of the moment and of the forecast: calls in progress, calls
per agent, live visitors and the MRR forecast, each the answer of one ``/v1`` route
(:mod:`commbase.web.figures` registers them in its ``TABLES``)."""

from __future__ import annotations

from typing import Any

from commbase.web.figures import API_PREFIX, ChartData, Table, csv_url, epoch, guarded
from commbase.web.reads import Reads
from commbase.web.templating import money

NO_MEMBER = "(no member)"
AGENT_METRICS = ("calls.total", "calls.answered", "calls.duration")
AGENT_LIMIT = 10


async def in_progress(api: Reads, query: dict[str, str]) -> Table:
    now = await api.get("/v1/analytics/calls-in-progress")
    columns = ["agent", "queued", "ringing", "in_progress", "total"]
    rows: list[list[Any]] = [["(all)", *(now[c] for c in columns[1:])]]
    rows += [[a["user_id"] or NO_MEMBER, *(a[c] for c in columns[1:])] for a in now["by_agent"]]
    return Table(
        "Calls in progress now",
        columns,
        rows,
        source="/v1/analytics/calls-in-progress",
    )


async def call_agents(api: Reads, query: dict[str, str]) -> Table:
    """Calls, answered calls and talk time per agent (the member a call belongs to)."""
    params = {
        **query,
        "metrics": ",".join(AGENT_METRICS),
        "group_by": "user",
        "group_limit": str(AGENT_LIMIT),
        "compare": "false",
    }
    answer = await api.get("/v1/analytics/series", params)
    by_group: dict[str, dict[str, Any]] = {}
    for entry in answer["series"]:
        group = NO_MEMBER if entry["group"] is None else entry["group"]
        if entry.get("other"):
            group = "(other agents)"
        by_group.setdefault(group, {})[entry["metric"]] = entry["total"]
    rows = sorted(
        ([group, *(values.get(m, 0) for m in AGENT_METRICS)] for group, values in by_group.items()),
        key=lambda row: (-float(row[1] or 0), str(row[0])),
    )
    return Table(
        "Calls per agent",
        ["agent", "calls", "answered", "talk_time"],
        [row for row in rows if row[1]],
        units=["", "count", "count", "s"],
        csv_url=csv_url(
            "/v1/analytics/series.csv", {k: v for k, v in params.items() if k != "compare"}
        ),
        source="/v1/analytics/series?metrics=calls.total,calls.answered,calls.duration"
        "&group_by=user",
    )


async def live_visitors(api: Reads, query: dict[str, str]) -> Table:
    live = await api.get("/v1/analytics/live-visitors")
    minutes = live["window_seconds"] // 60
    return Table(
        "Visitors now",
        ["figure", "value"],
        [[f"visitors in the last {minutes} minutes", live["visitors"]]],
        source="/v1/analytics/live-visitors",
    )


async def mrr_forecast(api: Reads, query: dict[str, str]) -> Table:
    """Per currency: MRR now, the monthly net new MRR and the forecast months; the chart
    of the first currency's history and forecast."""

    async def read() -> Table:
        answer = await api.get("/v1/billing/mrr-forecast")
        months = answer["months"]
        columns = ["currency", "mrr", "net_new_per_month"] + [
            f"in_{30 * k}_days" for k in range(1, months + 1)
        ]
        rows = [
            [
                item["currency"],
                money(item["mrr"], item["currency"]),
                money(item["monthly_net_new_mrr"], item["currency"]),
                *(money(p["mrr"], item["currency"]) for p in item["forecast"]),
            ]
            for item in answer["data"]
        ]
        table = Table(
            f"MRR forecast, next {months} months",
            columns,
            rows,
            source="/v1/billing/mrr-forecast",
            note="No MRR yet.",
        )
        if answer["data"]:
            table.chart = _forecast_chart(answer["data"][0])
        return table

    return await guarded("MRR forecast", "/v1/billing/mrr-forecast", read)


def _forecast_chart(item: dict[str, Any]) -> ChartData:
    history, forecast = item["history"], item["forecast"]
    points = len(history) + len(forecast)
    actual = [p["mrr"] for p in history] + [None] * len(forecast)
    projected: list[Any] = [None] * (len(history) - 1) + [history[-1]["mrr"]]
    projected += [p["mrr"] for p in forecast]
    assert len(actual) == len(projected) == points
    return ChartData(
        title=f"MRR and forecast ({item['currency']})",
        csv_url=f"{API_PREFIX}/v1/billing/mrr-forecast.csv",
        x=[epoch(p["at"]) for p in (*history, *forecast)],
        lines=[
            {"label": "MRR", "unit": "minor", "values": actual},
            {"label": "Forecast", "unit": "minor", "values": projected},
        ],
    )


TABLES = {
    "in_progress": in_progress,
    "call_agents": call_agents,
    "live_visitors": live_visitors,
    "mrr_forecast": mrr_forecast,
}
