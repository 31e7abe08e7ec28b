"""Plan distribution, add-on adoption and revenue, invoices by status and trial
conversion, each checked against what the subscriptions and invoices API show."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    addon,
    billing_app,
    contact_customer,
    invoices_of,
    module_app,
    module_client,
    plan,
    renew,
    subscribe,
)
from tests.identity.factories import make_tenant

JANUARY = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"


async def test_revenue_breakdown_over_a_month(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(datetime(2026, 1, 5, tzinfo=UTC))
    with use_clock(clock):
        basic = await plan(client, h, "basic", 1000, pricing="per_seat")
        pro = await plan(client, h, "pro", 5000, trial_days=14)
        euro = await plan(client, h, "euro", 4000, currency="EUR")
        rec = await addon(client, h, "rec", 300, category="recording")
        extra = await addon(client, h, "extra", 200, category="seats", pricing="per_unit")
        buyers = [await contact_customer(client, h, f"Buyer {n}") for n in "ABCDE"]
        a = await subscribe(
            client, h, buyers[0]["id"], basic["id"], quantity=2, addons=[{"addon_id": rec["id"]}]
        )
        await subscribe(
            client,
            h,
            buyers[1]["id"],
            basic["id"],
            addons=[{"addon_id": rec["id"]}, {"addon_id": extra["id"], "quantity": 3}],
        )
        await subscribe(client, h, buyers[2]["id"], pro["id"])  # trial, converts
        leaving = await subscribe(client, h, buyers[3]["id"], pro["id"])  # trial, expires
        await client.post(
            f"/v1/billing/subscriptions/{leaving['id']}/cancel",
            json={"at_period_end": True},
            headers=h,
        )
        await subscribe(client, h, buyers[4]["id"], euro["id"])  # another currency
        during_trials = await client.get(f"/v1/billing/revenue-breakdown?{JANUARY}", headers=h)
        clock.set(datetime(2026, 1, 25, tzinfo=UTC))
        await renew(app, tenant.org_id)
        first_of_a = (await invoices_of(client, h, a["id"]))[0]
        paid = await client.post(
            f"/v1/billing/invoices/{first_of_a['id']}/payments", json={}, headers=h
        )
        assert paid.status_code in (200, 201), paid.text
        report = await client.get(f"/v1/billing/revenue-breakdown?{JANUARY}", headers=h)
        listed = await client.get("/v1/billing/invoices?limit=100", headers=h)
        invoices = [
            (await client.get(f"/v1/billing/invoices/{i['id']}", headers=h)).json()
            for i in listed.json()["data"]
        ]
    assert during_trials.status_code == 200, during_trials.text
    assert [
        (p["code"], p["paying_subscriptions"], p["trialing_subscriptions"])
        for p in during_trials.json()["plans"]
    ] == [("basic", 2, 0), ("pro", 0, 2)]
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["currency"] == "USD"
    # Plans now: A pays 2 x 1000 + 300, B 1000 + 300 + 3 x 200, C converted at 5000.
    assert body["plans"] == [
        {
            "plan_id": basic["id"],
            "code": "basic",
            "name": "Basic",
            "paying_subscriptions": 2,
            "trialing_subscriptions": 0,
            "mrr": 2300 + 1900,
        },
        {
            "plan_id": pro["id"],
            "code": "pro",
            "name": "Pro",
            "paying_subscriptions": 1,
            "trialing_subscriptions": 0,
            "mrr": 5000,
        },
    ]
    # Add-ons and invoices, recomputed from the invoices as the API shows them.
    final = [
        i
        for i in invoices
        if i["currency"] == "USD" and i["status"] in ("open", "paid", "uncollectible")
    ]
    with_plan = {
        i["subscription_id"] for i in final if any(x["kind"] == "plan" for x in i["lines"])
    }
    by_addon: dict[str, set[str]] = defaultdict(set)
    revenue: dict[str, int] = defaultdict(int)
    for invoice in final:
        for line in invoice["lines"]:
            if line["addon_id"]:
                by_addon[line["addon_id"]].add(invoice["subscription_id"])
                revenue[line["addon_id"]] += line["amount"]
    assert body["addons"] == [
        {
            "addon_id": item["id"],
            "code": item["code"],
            "name": item["name"],
            "subscriptions": len(by_addon[item["id"]]),
            "adoption_rate": round(100 * len(by_addon[item["id"]]) / len(with_plan), 2),
            "revenue": revenue[item["id"]],
        }
        for item in (extra, rec)
    ]
    assert (body["addons"][1]["subscriptions"], body["addons"][1]["revenue"]) == (2, 600)
    now = "2026-01-25T00:00:00"

    def figure(rows: list[dict[str, Any]], field: str) -> dict[str, int]:
        return {"count": len(rows), "amount": sum(r[field] for r in rows)}

    open_ = [i for i in final if i["status"] == "open"]
    assert body["invoices"] == {
        "paid": figure([i for i in final if i["status"] == "paid"], "total"),
        "open": figure(open_, "amount_due"),
        "overdue": figure([i for i in open_ if i["due_at"][:19] < now], "amount_due"),
    }
    assert body["invoices"]["overdue"]["count"] == 1  # B's, due Jan 19; C's is due Feb 2
    assert body["trials"] == {"started": 2, "converted": 1, "conversion_rate": 50.0}
    bad = await client.get(
        "/v1/billing/revenue-breakdown?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        headers=h,
    )
    assert bad.status_code == 422
    stranger = await make_tenant(app)
    empty = await client.get(f"/v1/billing/revenue-breakdown?{JANUARY}", headers=stranger.headers)
    assert empty.json()["plans"] == []
    assert empty.json()["trials"]["started"] == 0
