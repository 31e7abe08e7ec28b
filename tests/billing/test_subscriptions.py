"""Subscriptions through the API: invoices per period, trials, proration by the README's
rule, cancellation, pause and resume, add-on dependencies, included minutes, and
MRR movements written with each change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    addon,
    billing_app,
    contact_customer,
    created,
    invoices_of,
    module_app,
    module_client,
    movements,
    plan,
    renew,
    subscribe,
)
from tests.identity.factories import make_tenant

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_subscription_is_invoiced_each_period_once_however_often_renewals_run(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(START)
    with use_clock(clock):
        basic = await plan(client, tenant.headers, "basic", 3000)
        customer = await contact_customer(client, tenant.headers)
        sub = await subscribe(client, tenant.headers, customer["id"], basic["id"])
        assert sub["status"] == "active"
        assert sub["current_period_end"].startswith("2026-02-01")
        assert sub["mrr"] == 3000
        clock.set(datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC))
        assert await renew(app, tenant.org_id) == 2  # February and March
        assert await renew(app, tenant.org_id) == 0
    [first, second, third] = await invoices_of(client, tenant.headers, sub["id"])
    assert [i["billing_reason"] for i in (first, second, third)] == [
        "subscription_create",
        "subscription_cycle",
        "subscription_cycle",
    ]
    assert [i["period_start"][:10] for i in (first, second, third)] == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
    ]
    assert [i["number"] for i in (first, second, third)] == [
        "INV-000001",
        "INV-000002",
        "INV-000003",
    ]
    assert all(i["total"] == 3000 and i["status"] == "open" for i in (first, second, third))
    got = (
        await client.get(f"/v1/billing/subscriptions/{sub['id']}", headers=tenant.headers)
    ).json()
    assert got["current_period_end"].startswith("2026-04-01")
    assert [m["kind"] for m in await movements(client, tenant.headers, sub["id"])] == ["new"]


APRIL = datetime(2026, 4, 1, tzinfo=UTC)  # a 30-day period: April 1 to May 1


async def test_proration_matches_the_readme_examples(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(APRIL)
    with use_clock(clock):
        basic = await plan(client, h, "basic", 3000)
        pro = await plan(client, h, "pro", 6000)
        seat = await plan(client, h, "seat", 1000, pricing="per_seat")
        extra = await addon(client, h, "extra", 500)
        coupon = await created(
            client,
            h,
            "/v1/billing/coupons",
            code="TWENTY",
            name="20%",
            percent_off=20,
            duration="forever",
        )
        customer = await contact_customer(client, h)
        upgrade = await subscribe(client, h, customer["id"], basic["id"])
        seats = await subscribe(client, h, customer["id"], seat["id"], quantity=5)
        rounding = await subscribe(client, h, customer["id"], basic["id"])
        discounted = await subscribe(client, h, customer["id"], basic["id"], coupon_id=coupon["id"])

        # Example 2: 5 seats to 3 seats (10.00 each) with 15 of 30 days left: 10.00 credit,
        # taken off the next invoice.
        clock.set(datetime(2026, 4, 16, tzinfo=UTC))
        fewer = await client.patch(
            f"/v1/billing/subscriptions/{seats['id']}", json={"quantity": 3}, headers=h
        )
        assert (fewer.json()["credit_balance"], fewer.json()["mrr"]) == (1000, 3000)
        assert len(await invoices_of(client, h, seats["id"])) == 1  # nothing charged
        # Example 1: Basic (30.00) to Pro (60.00) with 10 of 30 days left: +10.00 now.
        clock.set(datetime(2026, 4, 21, tzinfo=UTC))
        changed = await client.patch(
            f"/v1/billing/subscriptions/{upgrade['id']}", json={"plan_id": pro["id"]}, headers=h
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["mrr"] == 6000
        proration = (await invoices_of(client, h, upgrade["id"]))[-1]
        assert proration["billing_reason"] == "subscription_update"
        assert [(li["kind"], li["amount"]) for li in proration["lines"]] == [("proration", 1000)]
        assert (proration["total"], proration["amount_due"]) == (1000, 1000)

        # Example 4: the same upgrade under a 20% coupon: (48.00 - 24.00) x 10/30 = +8.00.
        await client.patch(
            f"/v1/billing/subscriptions/{discounted['id']}", json={"plan_id": pro["id"]}, headers=h
        )
        assert (await invoices_of(client, h, discounted["id"]))[-1]["total"] == 800

        # Example 3: a 5.00 add-on with 7 of 30 days left: 116.67 rounds to 1.17.
        clock.set(datetime(2026, 4, 24, tzinfo=UTC))
        await client.patch(
            f"/v1/billing/subscriptions/{rounding['id']}",
            json={"addons": [{"addon_id": extra["id"]}]},
            headers=h,
        )
        assert (await invoices_of(client, h, rounding["id"]))[-1]["total"] == 117

        clock.set(datetime(2026, 5, 1, tzinfo=UTC))
        await renew(app, tenant.org_id)
    renewal = (await invoices_of(client, h, seats["id"]))[-1]
    assert (renewal["total"], renewal["credit_applied"], renewal["amount_due"]) == (
        3000,
        1000,
        2000,
    )
    after = (await client.get(f"/v1/billing/subscriptions/{seats['id']}", headers=h)).json()
    assert after["credit_balance"] == 0
    kinds = [m["kind"] for m in await movements(client, h, seats["id"])]
    assert kinds == ["expansion", "contraction"]  # the customer already paid


async def test_a_trial_turns_active_at_its_end_and_counts_mrr_from_then(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(START)
    with use_clock(clock):
        yearly = await plan(client, h, "yearly", 120_000, interval="year", trial_days=14)
        customer = await contact_customer(client, h)
        sub = await subscribe(client, h, customer["id"], yearly["id"])
        assert (sub["status"], sub["mrr"], sub["trial_end"][:10]) == ("trialing", 0, "2026-01-15")
        assert await invoices_of(client, h, sub["id"]) == []
        clock.set(datetime(2026, 1, 20, tzinfo=UTC))
        await renew(app, tenant.org_id)
    got = (await client.get(f"/v1/billing/subscriptions/{sub['id']}", headers=h)).json()
    assert (got["status"], got["mrr"]) == ("active", 10_000)  # a year's 1,200.00 / 12
    assert got["current_period_end"].startswith("2027-01-15")
    [invoice] = await invoices_of(client, h, sub["id"])
    assert (invoice["total"], invoice["period_start"][:10]) == (120_000, "2026-01-15")
    [new] = await movements(client, h, sub["id"])
    assert (new["kind"], new["amount"], new["occurred_at"][:10]) == ("new", 10_000, "2026-01-15")


async def test_cancel_at_period_end_pause_resume_and_cancel_now(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(START)
    with use_clock(clock):
        basic = await plan(client, h, "basic", 3000)
        customer = await contact_customer(client, h)
        later = await subscribe(client, h, customer["id"], basic["id"])
        paused = await subscribe(client, h, customer["id"], basic["id"])
        cancelled = await client.post(
            f"/v1/billing/subscriptions/{later['id']}/cancel",
            json={"reason": "too expensive"},
            headers=h,
        )
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert (body["status"], body["cancel_at_period_end"], body["mrr"]) == ("active", True, 3000)
        assert body["cancellation_reason"] == "too expensive"

        clock.set(datetime(2026, 1, 10, tzinfo=UTC))
        pause = await client.post(f"/v1/billing/subscriptions/{paused['id']}/pause", headers=h)
        assert (pause.json()["status"], pause.json()["mrr"]) == ("paused", 0)
        again = await client.post(f"/v1/billing/subscriptions/{paused['id']}/pause", headers=h)
        assert again.status_code == 409

        clock.set(datetime(2026, 2, 5, tzinfo=UTC))
        await renew(app, tenant.org_id)
        ended = (await client.get(f"/v1/billing/subscriptions/{later['id']}", headers=h)).json()
        assert (ended["status"], ended["mrr"], ended["ended_at"][:10]) == (
            "cancelled",
            0,
            "2026-02-01",
        )
        assert len(await invoices_of(client, h, later["id"])) == 1  # no February invoice

        resumed = await client.post(f"/v1/billing/subscriptions/{paused['id']}/resume", headers=h)
        assert resumed.status_code == 200, resumed.text
        assert (resumed.json()["status"], resumed.json()["mrr"]) == ("active", 3000)
        assert resumed.json()["current_period_end"].startswith("2026-03-05")
        assert [i["period_start"][:10] for i in await invoices_of(client, h, paused["id"])] == [
            "2026-01-01",
            "2026-02-05",
        ]
        now = await client.post(
            f"/v1/billing/subscriptions/{paused['id']}/cancel",
            json={"at_period_end": False},
            headers=h,
        )
        assert (now.json()["status"], now.json()["mrr"]) == ("cancelled", 0)
        changed = await client.patch(
            f"/v1/billing/subscriptions/{paused['id']}", json={"quantity": 1}, headers=h
        )
        assert changed.status_code == 409
    assert [(m["kind"], m["amount"]) for m in await movements(client, h)] == [
        ("new", 3000),
        ("expansion", 3000),  # the customer's second subscription
        ("contraction", -3000),  # paused while the first still pays
        ("churn", -3000),  # the first ends: the customer pays nothing
        ("reactivation", 3000),  # resumed
        ("churn", -3000),
    ]


async def test_add_on_dependencies_and_plan_deletion_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    basic = await plan(client, h, "basic", 3000, features=["chat"])
    video = await plan(client, h, "video", 5000, features=["chat", "video"])
    storage = await addon(client, h, "storage", 300)
    recording = await addon(
        client, h, "recording", 700, requires_addons=["storage"], requires_features=["video"]
    )
    customer = await contact_customer(client, h)
    refused = await client.post(
        "/v1/billing/subscriptions",
        json={
            "customer_id": customer["id"],
            "plan_id": basic["id"],
            "addons": [{"addon_id": recording["id"]}],
        },
        headers=h,
    )
    assert refused.status_code == 422
    assert refused.json()["requires"] == ["storage", "feature video"]
    sub = await subscribe(
        client,
        h,
        customer["id"],
        video["id"],
        addons=[{"addon_id": recording["id"]}, {"addon_id": storage["id"]}],
    )
    assert sub["mrr"] == 6000
    dropped = await client.patch(
        f"/v1/billing/subscriptions/{sub['id']}",
        json={"addons": [{"addon_id": recording["id"]}]},
        headers=h,
    )
    assert dropped.status_code == 422  # recording still needs storage
    assert (await client.delete(f"/v1/billing/plans/{video['id']}", headers=h)).status_code == 409
    archived = await client.post(f"/v1/billing/plans/{video['id']}/archive", headers=h)
    assert archived.json()["archived_at"] is not None
    no_new = await client.post(
        "/v1/billing/subscriptions",
        json={"customer_id": customer["id"], "plan_id": video["id"]},
        headers=h,
    )
    assert no_new.status_code == 422
    assert (await client.delete(f"/v1/billing/plans/{basic['id']}", headers=h)).status_code == 204
    per_seat_flat = await client.post(
        "/v1/billing/subscriptions",
        json={"customer_id": customer["id"], "plan_id": video["id"], "quantity": 2},
        headers=h,
    )
    assert per_seat_flat.status_code == 422


async def test_included_minutes_reach_a_customer_organization_once_per_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seller = await make_tenant(app)
    buyer = await make_tenant(app)
    h = seller.headers
    clock = FrozenClock(START)
    with use_clock(clock):
        team = await plan(client, h, "team", 2000, pricing="per_seat", included_minutes=100)
        body = {"kind": "organization", "reference_id": buyer.org_id}
        unknown = await client.post("/v1/billing/customers", json=body, headers=h)
        assert unknown.status_code == 404  # the buyer has not named the seller yet
        consent = await client.patch(
            "/v1/organizations/current",
            json={"settings": {"billed_by": seller.org_id}},
            headers=buyer.headers,
        )
        assert consent.status_code == 200, consent.text
        customer = await created(client, h, "/v1/billing/customers", **body)
        await subscribe(client, h, customer["id"], team["id"], quantity=2)
        clock.set(datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC))
        await renew(app, seller.org_id)
        await renew(app, seller.org_id)
    wallets = (await client.get("/v1/wallets", headers=buyer.headers)).json()["data"]
    [wallet] = [w for w in wallets if w["owner_type"] == "organization"]
    assert wallet["balance_minutes"] == 400  # 100 minutes x 2 seats x 2 periods
    assert timedelta(0) < datetime(2026, 2, 1, tzinfo=UTC) - START


async def test_an_overdue_invoice_makes_the_subscription_past_due_until_paid(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(START)
    with use_clock(clock):
        basic = await plan(client, h, "basic", 3000)
        customer = await contact_customer(client, h)
        sub = await subscribe(client, h, customer["id"], basic["id"])
        [invoice] = await invoices_of(client, h, sub["id"])
        assert invoice["due_at"].startswith("2026-01-15")
        clock.set(datetime(2026, 1, 16, tzinfo=UTC))
        run = await client.post("/v1/jobs/billing.renew_subscriptions/runs", headers=h)
        assert run.status_code in (200, 201, 202), run.text
        got = (await client.get(f"/v1/billing/subscriptions/{sub['id']}", headers=h)).json()
        assert (got["status"], got["mrr"]) == ("past_due", 3000)  # still billed, still MRR
        paid = await client.post(
            f"/v1/billing/invoices/{invoice['id']}/payments", json={}, headers=h
        )
        assert paid.json()["status"] == "paid"
        got = (await client.get(f"/v1/billing/subscriptions/{sub['id']}", headers=h)).json()
        assert got["status"] == "active"


async def test_coupons_once_repeating_and_forever_on_invoices_and_mrr(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(START)
    with use_clock(clock):
        basic = await plan(client, h, "basic", 3000)
        coupons = {
            spec["code"]: await created(client, h, "/v1/billing/coupons", name="c", **spec)
            for spec in (
                {"code": "ONCE", "percent_off": 50, "duration": "once"},
                {
                    "code": "TWO",
                    "amount_off": 1000,
                    "currency": "USD",
                    "duration": "repeating",
                    "duration_months": 2,
                },
                {"code": "ALWAYS", "percent_off": 10, "duration": "forever"},
            )
        }
        customer = await contact_customer(client, h)
        subs = {
            code: await subscribe(client, h, customer["id"], basic["id"], coupon_id=c["id"])
            for code, c in coupons.items()
        }
        assert {code: s["mrr"] for code, s in subs.items()} == {
            "ONCE": 3000,  # a one-time discount is not recurring revenue
            "TWO": 2000,
            "ALWAYS": 2700,
        }
        clock.set(datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC))
        await renew(app, tenant.org_id)
    totals = {
        code: [i["total"] for i in await invoices_of(client, h, s["id"])]
        for code, s in subs.items()
    }
    assert totals == {
        "ONCE": [1500, 3000, 3000, 3000],
        "TWO": [2000, 2000, 3000, 3000],  # January and February
        "ALWAYS": [2700, 2700, 2700, 2700],
    }
    two = await movements(client, h, subs["TWO"]["id"])
    assert [(m["kind"], m["amount"], m["occurred_at"][:10]) for m in two] == [
        ("expansion", 2000, "2026-01-01"),  # the customer already paid for ONCE
        ("expansion", 1000, "2026-03-01"),  # the coupon ran out
    ]
