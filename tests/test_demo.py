"""``commbase demo``: a month of history whose dashboards agree with each other, loaded
once however often the command runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from commbase.core.time import utcnow
from commbase.demo import DEMO_CONTACTS, load_demo
from tests.conftest import TEST_SECRET
from tests.identity.factories import auth


async def every(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paginated list."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def totals(
    client: httpx.AsyncClient, headers: dict[str, str], metrics: list[str]
) -> dict[str, float]:
    start = (utcnow() - timedelta(days=60)).isoformat()
    response = await client.get(
        "/v1/analytics/series",
        params={"metrics": ",".join(metrics), "interval": "month", "from": start},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return {entry["metric"]: entry["total"] for entry in response.json()["series"]}


async def test_the_demo_dashboards_agree_with_each_other(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    demo = await load_demo(app.state.db, secret=TEST_SECRET)
    assert demo.created
    headers = auth(demo.api_key)

    calls = await every(client, headers, "/v1/calls")
    charges = await every(client, headers, "/v1/transactions", category="call_charge")
    topups = await every(client, headers, "/v1/transactions", category="wallet_topup")
    figures = await totals(
        client,
        headers,
        [
            "calls.total",
            "calls.completed",
            "calls.cost",
            "revenue.call_charges",
            "revenue.topups",
            "revenue.topup_count",
        ],
    )

    # Every call dialed a number, written internationally.
    assert len(calls) > 500
    assert all(call["to_number"].startswith("+") for call in calls)
    assert all(" " in call["to_number_formatted"] for call in calls)
    assert {call["to_number"] for call in calls} == {spec[1] for spec in DEMO_CONTACTS}
    # Calls counted == calls charged: one ledger row per completed call, naming it.
    completed = [call for call in calls if call["status"] == "completed"]
    assert figures["calls.total"] == len(calls)
    assert figures["calls.completed"] == len(completed) == len(charges)
    charged = {call["ledger_entry_id"]: call for call in calls if call["ledger_entry_id"]}
    assert set(charged) == {entry["id"] for entry in charges}
    for entry in charges:
        call = charged[entry["id"]]
        assert entry["related_call_id"] == call["id"]
        assert entry["amount"] == call["cost_amount"]
    # The money agrees: analytics, calls, ledger, wallet and the revenue report.
    spent = sum(entry["amount"] for entry in charges)
    assert spent > 0
    assert figures["calls.cost"] == figures["revenue.call_charges"] == spent
    assert sum(call["cost_amount"] or 0 for call in calls) == spent
    paid_in = sum(entry["amount"] for entry in topups)
    assert figures["revenue.topups"] == paid_in
    assert figures["revenue.topup_count"] == len(topups) > 1
    # The report's months are the organization's (Europe/Prague).
    prague = ZoneInfo("Europe/Prague")
    months = {datetime.fromisoformat(entry["created_at"]).astimezone(prague) for entry in topups}
    reported = 0
    for month in sorted({f"{moment:%Y-%m}" for moment in months}):
        report = await client.get("/v1/reports/revenue", params={"month": month}, headers=headers)
        assert report.status_code == 200, report.text
        reported += report.json()["total_revenue"]
    assert reported == paid_in
    (wallet,) = (await client.get("/v1/wallets", headers=headers)).json()["data"]
    assert wallet["balance"] == paid_in - spent >= 0
    package = sum(entry["minutes"] for entry in topups)
    assert wallet["balance_minutes"] == package - sum(entry["minutes"] for entry in charges)
    company = (await client.get("/v1/analytics/company", headers=headers)).json()
    assert company["totalCalls"] == len(calls)
    assert company["totalRevenue"] == paid_in
    # The whole month lies inside the default dashboard's 30 days.
    dashboard = (await client.get("/v1/analytics/dashboard", headers=headers)).json()
    current = dashboard["current"]
    assert (current["calls"]["total"], current["calls"]["cost"]) == (len(calls), spent)
    assert (current["revenue"]["topups"], current["revenue"]["callCharges"]) == (paid_in, spent)
    # Call quality: the report and analytics average the same calls.
    report = (await client.get("/v1/reports/call-quality", headers=headers)).json()
    quality = (await client.get("/v1/analytics/quality", headers=headers)).json()["metrics"]
    assert report["total_calls"] == len(completed)
    for field, metric in (("avg_mos", "calls.mos_avg"), ("avg_latency_ms", "calls.latency_avg")):
        assert report[field] is not None
        assert abs(report[field] - quality[metric]["total"]) < 0.05, field

    # The contact book counts the same calls; search finds names without accents.
    contacts = await every(client, headers, "/v1/contacts")
    assert sum(contact["stats"]["total_calls"] for contact in contacts) == len(calls)
    novak = await every(client, headers, "/v1/contacts", q="novak")
    assert [(c["name"], c["phone_formatted"]) for c in novak] == [("Jan Novák", "+420 601 123 456")]
    hits = (
        await client.get("/v1/transcripts/search", params={"q": "refunds"}, headers=headers)
    ).json()["data"]
    assert len(hits) == 1
    assert "**refund**" in hits[0]["snippet"]

    # Loading again changes nothing.
    again = await load_demo(app.state.db, secret=TEST_SECRET)
    assert (again.created, again.api_key) == (False, demo.api_key)
    assert await totals(client, headers, ["calls.total", "revenue.topups"]) == {
        "calls.total": figures["calls.total"],
        "revenue.topups": figures["revenue.topups"],
    }
    assert len(await every(client, headers, "/v1/transactions")) == len(charges) + len(topups)
