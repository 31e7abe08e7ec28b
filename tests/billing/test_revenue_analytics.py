"""MRR and ARR on the analytics API and in snapshots, from the MRR movements; other
currencies kept apart."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    contact_customer,
    module_app,
    module_client,
    movements,
    plan,
    subscribe,
)
from tests.identity.factories import make_tenant


async def test_revenue_and_snapshots_report_mrr_and_arr_per_currency(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    with use_clock(clock):
        monthly = await plan(client, h, "monthly", 3000)
        yearly = await plan(client, h, "yearly", 60_000, interval="year")
        euro = await plan(client, h, "euro", 2000, currency="EUR")
        buyer = await contact_customer(client, h)
        await subscribe(client, h, buyer["id"], monthly["id"])
        await subscribe(client, h, buyer["id"], yearly["id"])
        euro_sub = await subscribe(client, h, buyer["id"], euro["id"])
        clock.set(datetime(2026, 3, 3, 9, tzinfo=UTC))
        cancelled = await client.post(
            f"/v1/billing/subscriptions/{euro_sub['id']}/cancel",
            json={"at_period_end": False, "reason": "moved"},
            headers=h,
        )
        assert cancelled.status_code == 200, cancelled.text
        euro_two = await subscribe(client, h, buyer["id"], euro["id"])
        clock.set(datetime(2026, 3, 5, tzinfo=UTC))

        revenue = await client.get(
            "/v1/analytics/revenue?interval=day&from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z",
            headers=h,
        )
        assert revenue.status_code == 200, revenue.text
        assert (revenue.json()["currency"], revenue.json()["mrr"], revenue.json()["arr"]) == (
            "USD",
            3000 + 5000,  # 600.00 a year is 50.00 a month
            12 * 8000,
        )
        before = await client.get(
            "/v1/analytics/revenue?from=2026-02-01T00:00:00Z&to=2026-03-01T00:00:00Z", headers=h
        )
        assert before.json()["mrr"] == 0

        series = await client.get(
            "/v1/analytics/series?metrics=mrr.change,mrr.churn,mrr.reactivation&group_by=currency"
            "&interval=day&from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z",
            headers=h,
        )
        assert series.status_code == 200, series.text
        points = {
            (e["metric"], e["group"]): [p["value"] for p in e["points"]]
            for e in series.json()["series"]
        }
        assert points[("mrr.change", "EUR")] == [0, 2000, 0]  # churned and back the same day
        assert points[("mrr.churn", "EUR")] == [0, 0, -2000]
        assert points[("mrr.reactivation", "EUR")] == [0, 0, 2000]
        assert points[("mrr.change", "USD")] == [0, 8000, 0]

        snapshot = await client.post(
            "/v1/analytics/snapshots", json={"type": "daily", "date": "2026-03-03"}, headers=h
        )
        assert snapshot.status_code in (200, 201), snapshot.text
        metrics = snapshot.json()["metrics"]
        assert (metrics["revenue"]["mrr"], metrics["revenue"]["arr"]) == (8000, 96_000)
        assert metrics["subscriptions"]["activeSubscriptions"] == 3
        assert metrics["subscriptions"]["cancelledSubscriptions"] == 1
        assert metrics["subscriptions"]["newSubscriptions"] == 1  # the second EUR one
    kinds = [m["kind"] for m in await movements(client, h, euro_two["id"])]
    assert kinds == ["reactivation"]
    now = (await client.get("/v1/billing/mrr", headers=h)).json()["data"]
    assert now == [
        {"currency": "EUR", "mrr": 2000, "arr": 24_000, "paying_subscriptions": 1},
        {"currency": "USD", "mrr": 8000, "arr": 96_000, "paying_subscriptions": 2},
    ]


async def test_the_billing_forecast_counts_the_renewals_ahead(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    with use_clock(clock):
        basic = await plan(client, h, "basic", 3000)
        yearly = await plan(client, h, "yearly", 24_000, interval="year")
        trial = await plan(client, h, "trial", 5000, trial_days=30)
        euro = await plan(client, h, "euro", 2000, currency="EUR")
        coupon = await client.post(
            "/v1/billing/coupons",
            json={
                "code": "FIRST",
                "name": "First month",
                "amount_off": 1000,
                "currency": "USD",
                "duration": "repeating",
                "duration_months": 1,
            },
            headers=h,
        )
        buyer = await contact_customer(client, h)
        for plan_id in (basic["id"], yearly["id"], trial["id"], euro["id"]):
            await subscribe(client, h, buyer["id"], plan_id)
        await subscribe(client, h, buyer["id"], basic["id"], coupon_id=coupon.json()["id"])
        leaving = await subscribe(client, h, buyer["id"], basic["id"])
        await client.post(f"/v1/billing/subscriptions/{leaving['id']}/cancel", json={}, headers=h)
        clock.set(datetime(2026, 1, 15, tzinfo=UTC))
        month = (await client.get("/v1/billing/forecast?days=30", headers=h)).json()
        quarter = (await client.get("/v1/billing/forecast?days=90", headers=h)).json()
    # 30 days: basic and the couponed one renew Feb 1 (the coupon has run out), the
    # trial converts Jan 31; the yearly plan renews next January; the leaver ends.
    assert month["data"] == [
        {"currency": "EUR", "amount": 2000, "renewals": 1},
        {"currency": "USD", "amount": 3000 + 3000 + 5000, "renewals": 3},
    ]
    assert quarter["data"] == [
        {"currency": "EUR", "amount": 6000, "renewals": 3},
        {"currency": "USD", "amount": 3 * (3000 + 3000 + 5000), "renewals": 9},
    ]


async def test_retention_rates_over_a_month(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(datetime(2026, 1, 5, tzinfo=UTC))
    with use_clock(clock):
        basic = await plan(client, h, "basic", 1000, pricing="per_seat")
        subs = []
        for name in ("A", "B", "C", "D"):
            buyer = await contact_customer(client, h, f"Buyer {name}")
            subs.append(await subscribe(client, h, buyer["id"], basic["id"], quantity=2))
        clock.set(datetime(2026, 2, 10, tzinfo=UTC))
        grow, shrink, leave = (f"/v1/billing/subscriptions/{s['id']}" for s in subs[:3])
        await client.patch(grow, json={"quantity": 5}, headers=h)  # +3000
        await client.patch(shrink, json={"quantity": 1}, headers=h)  # -1000
        await client.post(f"{leave}/cancel", json={"at_period_end": False}, headers=h)  # -2000
        newcomer = await contact_customer(client, h, "Buyer E")
        await subscribe(client, h, newcomer["id"], basic["id"])  # +1000 new
        clock.set(datetime(2026, 3, 2, tzinfo=UTC))
        report = await client.get(
            "/v1/billing/retention?from=2026-02-01T00:00:00Z&to=2026-03-01T00:00:00Z", headers=h
        )
        bad = await client.get(
            "/v1/billing/retention?from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z", headers=h
        )
        snapshot = await client.post(
            "/v1/analytics/snapshots", json={"type": "daily", "date": "2026-02-10"}, headers=h
        )
        assert snapshot.status_code in (200, 201), snapshot.text
        growth = snapshot.json()["metrics"]["revenue"]
    assert bad.status_code == 422
    for query in (
        "from=2000-01-01T00:00:00Z&to=9999-12-31T00:00:00Z",
        "from=0001-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ):
        far = await client.get(f"/v1/billing/retention?{query}", headers=h)
        assert far.status_code == 422, far.text
    assert report.status_code == 200, report.text
    assert report.json() == {
        "currency": "USD",
        "mrr_start": 8000,
        "mrr_end": 9000,
        "new": 1000,
        "expansion": 3000,
        "contraction": -1000,
        "churn": -2000,
        "reactivation": 0,
        "customers_start": 4,
        "customers_end": 4,
        "customers_churned": 1,
        "customer_churn_rate": 25.0,
        "revenue_churn_rate": 25.0,
        "net_revenue_retention": 100.0,  # (8000 + 3000 - 1000 - 2000) / 8000
        "arpa": 2250,
        "ltv": 9000,  # ARPA / churn rate: 2250 / 0.25
    }
    # Feb 10 moved MRR from 8000 to 9000; of 4 paying customers at its start 1 churned.
    assert (growth["mrr"], growth["arr"]) == (9000, 108_000)
    assert growth["revenueGrowthRate"] == round((9000 - 8000) / 8000 * 100, 2)
    assert growth["retentionRate"] == round((4 - 1) / 4 * 100, 2)
    assert growth["expansionRevenue"] == 3000
