"""Leads (seed 004): scored by the caller or by the default rule, prioritised by
thresholds, followed up (a job announces due follow-ups once), converted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.engagement.records_factories import (
    created,
    events_of,
    metric_totals,
    ok,
    problem,
    run_job,
)
from tests.identity.factories import auth, make_tenant
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key


async def test_leads_are_scored_prioritised_followed_up_and_converted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    contact = await created(client, "/v1/contacts", h, {"name": "Petr"})
    hot = await created(
        client,
        "/v1/leads",
        h,
        {
            "contact_id": contact["id"],
            "conversation_id": "conv_later",
            "name": "Petr Svoboda",
            "phone": "+420 777 123 456",
            "email": "petr@example.com",
            "source": "voice_call",
            "budget": "100k+",
            "timeline": "immediate",
        },
    )
    # The rule: 35 (budget) + 30 (timeline) + 10 (phone) + 10 (email).
    assert (hot["score"], hot["score_source"], hot["priority"]) == (85, "rule", "hot")
    assert (hot["follow_up_status"], hot["converted"], hot["phone"]) == (
        "pending",
        False,
        "+420777123456",
    )
    given = await created(
        client,
        "/v1/leads",
        h,
        {"name": "AI scored", "score": 55, "deal_value": 500000, "currency": "CZK"},
    )
    assert (given["score"], given["score_source"], given["priority"]) == (55, "given", "warm")
    cold = await created(client, "/v1/leads", h, {"source": "chat", "interest": "web_development"})
    assert (cold["score"], cold["priority"]) == (10, "cold")

    # What the rule reads changes: rescored. A given score stays given until cleared.
    warmer = await ok(
        client.patch(
            f"/v1/leads/{cold['id']}",
            json={"budget": "50k-100k", "timeline": "1-3_months"},
            headers=h,
        )
    )
    assert (warmer["score"], warmer["priority"]) == (55, "warm")
    still = await ok(client.patch(f"/v1/leads/{given['id']}", json={"budget": "100k+"}, headers=h))
    assert still["score"] == 55
    ruled = await ok(client.patch(f"/v1/leads/{given['id']}", json={"score": None}, headers=h))
    assert (ruled["score"], ruled["score_source"]) == (35, "rule")

    contacted = await ok(
        client.patch(f"/v1/leads/{hot['id']}", json={"follow_up_status": "contacted"}, headers=h)
    )
    assert contacted["follow_up_status"] == "contacted"
    converted = await ok(
        client.post(
            f"/v1/leads/{hot['id']}/convert",
            json={"deal_value": 12000000, "currency": "CZK"},
            headers=h,
        )
    )
    assert converted["converted"] is True
    assert converted["converted_at"]
    assert (converted["follow_up_status"], converted["deal_value"]) == ("converted", 12000000)
    problem(
        await client.post(f"/v1/leads/{hot['id']}/convert", json={}, headers=h), 409, "conflict"
    )
    lost = await ok(
        client.patch(f"/v1/leads/{cold['id']}", json={"follow_up_status": "lost"}, headers=h)
    )
    assert lost["follow_up_status"] == "lost"
    problem(
        await client.patch(f"/v1/leads/{cold['id']}", json={"notes": "x"}, headers=h),
        409,
        "conflict",
    )

    hot_list = await ok(client.get("/v1/leads?priority=hot", headers=h))
    assert [lead["id"] for lead in hot_list["data"]] == [hot["id"]]
    assert [
        lead["id"] for lead in (await ok(client.get("/v1/leads?converted=true", headers=h)))["data"]
    ] == [hot["id"]]
    assert [
        lead["id"] for lead in (await ok(client.get("/v1/leads?min_score=50", headers=h)))["data"]
    ] == [cold["id"], hot["id"]]
    kinds = [kind for kind, _ in await events_of(app, tenant, "lead.")]
    assert kinds == [
        *["lead.created"] * 3,
        *["lead.updated"] * 4,
        "lead.contacted",
        "lead.converted",
        "lead.updated",
        "lead.lost",
    ]

    totals = await metric_totals(
        client,
        h,
        "leads.new",
        "leads.hot",
        "leads.converted",
        "leads.conversion_rate",
        "leads.pipeline_value",
    )
    assert totals == {
        "leads.new": 3,
        "leads.hot": 1,
        "leads.converted": 1,
        "leads.conversion_rate": 0.33,
        "leads.pipeline_value": 500000,
    }
    # Seed 004's daily fields are a section of the daily snapshot.
    today = datetime.now(UTC).date().isoformat()
    snapshot = await created(client, "/v1/analytics/snapshots", h, {"type": "daily", "date": today})
    assert snapshot["metrics"]["business"] == {
        "bookingsMade": 0,
        "salesGenerated": 1,
        "totalRevenue": 0,
        "newLeads": 3,
        "hotLeads": 1,
        "leadsConverted": 1,
        "conversionRate": 0.33,
    }


async def test_the_follow_up_job_announces_each_due_date_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    due = await created(client, "/v1/leads", h, {"name": "Due", "follow_up_at": past})
    await created(client, "/v1/leads", h, {"name": "Later", "follow_up_at": future})
    closed = await created(client, "/v1/leads", h, {"name": "Closed", "follow_up_at": past})
    await ok(client.post(f"/v1/leads/{closed['id']}/convert", json={}, headers=h))

    assert (await run_job(client, h, "engagement.lead_follow_ups"))["rows"] == 1
    assert (await run_job(client, h, "engagement.lead_follow_ups"))["rows"] == 0
    announced = await events_of(app, tenant, "lead.follow_up_due")
    assert [payload["id"] for _, payload in announced] == [due["id"]]
    # A new date that has come is announced again.
    await ok(
        client.patch(
            f"/v1/leads/{due['id']}",
            json={"follow_up_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()},
            headers=h,
        )
    )
    assert (await run_job(client, h, "engagement.lead_follow_ups"))["rows"] == 1


async def test_bad_lead_input_is_refused_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    theirs = await created(client, "/v1/contacts", other.headers, {"name": "Theirs"})
    cases: list[tuple[dict[str, Any], int]] = [
        ({"score": 101}, 422),
        ({"score": -1}, 422),
        ({"source": "pigeon"}, 422),
        ({"deal_value": 100}, 422),  # no currency
        ({"deal_value": 100, "currency": "XYZ"}, 422),
        ({"email": "not-an-email"}, 422),
        ({"follow_up_at": "2031-01-01T10:00:00"}, 422),
        ({"contact_id": theirs["id"]}, 404),
    ]
    for body, status in cases:
        response = await client.post("/v1/leads", json=body, headers=tenant.headers)
        problem(response, status, "validation-failed" if status == 422 else "not-found")
    lead = await created(client, "/v1/leads", tenant.headers, {"name": "Fine"})
    problem(
        await client.patch(
            f"/v1/leads/{lead['id']}",
            json={"follow_up_status": "converted"},
            headers=tenant.headers,
        ),
        422,
        "validation-failed",
    )
    problem(
        await client.patch(
            f"/v1/leads/{lead['id']}", json={"source": None}, headers=tenant.headers
        ),
        422,
        "validation-failed",
    )
    assert len((await ok(client.get("/v1/leads", headers=tenant.headers)))["data"]) == 1
    assert [kind for kind, _ in await events_of(app, tenant, "lead.")] == ["lead.created"]


async def test_a_website_enquiry_becomes_a_scored_lead_its_visitor_can_follow(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key, scopes=["intake:leads"]))["key"]
    visitor = {**auth(key), "Origin": ORIGIN}
    form = {
        "name": "Vera Visitor",
        "email": "vera@visitor.example",
        "company": "Visitor s.r.o.",
        "budget": "50k-100k",
        "timeline": "immediate",
        "message": "We need an AI receptionist",
    }
    receipt = await created(client, "/v1/intake/leads", visitor, form)
    assert (receipt["object"], receipt["status"]) == ("lead", "pending")
    mine = await ok(
        client.get(
            "/v1/intake/lead", headers={**visitor, "X-Access-Token": receipt["access_token"]}
        )
    )
    assert (mine["id"], mine["follow_up_status"]) == (receipt["id"], "pending")
    assert "score" not in mine  # the visitor does not see how they were rated
    lead = await ok(client.get(f"/v1/leads/{receipt['id']}", headers=tenant.headers))
    # The rule: 25 (budget) + 30 (timeline) + 10 (email) + 5 (company).
    assert (lead["source"], lead["score"], lead["priority"], lead["notes"]) == (
        "web_form",
        70,
        "hot",
        "We need an AI receptionist",
    )
    # A visitor cannot score themselves, and a bot that fills the honeypot stores nothing.
    problem(
        await client.post("/v1/intake/leads", json={**form, "score": 100}, headers=visitor),
        422,
        "validation-failed",
    )
    await created(client, "/v1/intake/leads", visitor, {**form, "website": "http://spam.example"})
    listed = await ok(client.get("/v1/leads", headers=tenant.headers))
    assert [item["id"] for item in listed["data"]] == [receipt["id"]]
    # Another origin is refused.
    refused = await client.post(
        "/v1/intake/leads", json=form, headers={**visitor, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403, refused.text
