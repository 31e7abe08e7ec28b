"""Consultations through /v1/support/consultations (seed 002's routes) and the
visitor's intake routes."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.engagement.test_support import event_types
from tests.identity.factories import Tenant, add_member, auth, make_tenant
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key

PATH = "/v1/support/consultations"
WHEN = "2026-12-01T15:00:00+01:00"


async def request(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("type", "product_demo")
    response = await client.post(PATH, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_seed_routes_and_the_consultation_lifecycle(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    host_id, _ = await add_member(app, tenant, role=Role.AGENT)
    # POST /api/support/consultations
    consultation = await request(
        client,
        tenant,
        type="enterprise_sales",
        user_id=tenant.owner_id,
        requester_email="Buyer@Corp.example",
        requester_phone="+420 777 123 456",
        company_name="Corp",
        company_size="51-200",
        project_description="Voice bot for 3 clinics",
        budget_range="10-50k EUR",
    )
    assert consultation["status"] == "requested"
    assert consultation["requester_phone"] == "+420777123456"
    other = await request(client, tenant)
    cid = consultation["id"]

    # GET /api/support/consultations/user/:userId, and other filters
    for query, expected in (
        (f"user_id={tenant.owner_id}", [cid]),
        ("type=product_demo", [other["id"]]),
        ("email=buyer@corp.example", [cid]),
        ("status=scheduled", []),
    ):
        listed = await client.get(f"{PATH}?{query}", headers=tenant.headers)
        assert [c["id"] for c in listed.json()["data"]] == expected, query

    early = await client.post(
        f"{PATH}/{cid}/complete", json={"outcome": "won"}, headers=tenant.headers
    )
    assert early.status_code == 409
    assert early.json()["status"] == 409
    assert early.json()["current_status"] == "requested"
    scheduled = await client.post(
        f"{PATH}/{cid}/schedule",
        json={"scheduled_at": WHEN, "meeting_url": "https://meet.example/abc", "host_id": host_id},
        headers=tenant.headers,
    )
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["scheduled_at"].startswith("2026-12-01T14:00:00")
    assert scheduled.json()["host_id"] == host_id
    moved = await client.post(
        f"{PATH}/{cid}/schedule",
        json={"scheduled_at": "2026-12-02T14:00:00Z", "duration_minutes": 45},
        headers=tenant.headers,
    )
    assert moved.json()["scheduled_count"] == 2
    assert moved.json()["meeting_url"] == "https://meet.example/abc"
    no_feedback_yet = await client.post(
        f"{PATH}/{cid}/feedback", json={"rating": 5}, headers=tenant.headers
    )
    assert no_feedback_yet.status_code == 409
    done = await client.post(
        f"{PATH}/{cid}/complete",
        json={"outcome": "proposal_sent", "outcome_notes": "Sent quote"},
        headers=tenant.headers,
    )
    assert done.json()["status"] == "completed"
    # POST /api/support/consultations/:id/feedback
    feedback = await client.post(
        f"{PATH}/{cid}/feedback", json={"rating": 4, "comment": "useful"}, headers=tenant.headers
    )
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["feedback_rating"] == 4
    again = await client.post(f"{PATH}/{cid}/feedback", json={"rating": 1}, headers=tenant.headers)
    assert again.status_code == 409
    for path in (f"{PATH}/{cid}/cancel", f"{PATH}/{cid}/no-show"):
        assert (await client.post(path, headers=tenant.headers)).status_code == 409

    cancelled = await client.post(
        f"{PATH}/{other['id']}/cancel", json={"reason": "budget"}, headers=tenant.headers
    )
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "budget"
    patched = await client.patch(
        f"{PATH}/{other['id']}", json={"company_name": "Other Corp"}, headers=tenant.headers
    )
    assert patched.json()["company_name"] == "Other Corp"

    assert await event_types(app, tenant.org_id, "consultation.") == [
        "consultation.requested",
        "consultation.requested",
        "consultation.scheduled",
        "consultation.scheduled",
        "consultation.completed",
        "consultation.feedback_received",
        "consultation.cancelled",
    ]
    foreign = await make_tenant(app)
    assert (await client.get(f"{PATH}/{cid}", headers=foreign.headers)).status_code == 404
    third = await request(client, tenant)
    bad_host = await client.post(
        f"{PATH}/{third['id']}/schedule",
        json={"scheduled_at": WHEN, "host_id": foreign.owner_id},
        headers=tenant.headers,
    )
    assert bad_host.status_code == 404
    unchanged = await client.get(f"{PATH}/{third['id']}", headers=tenant.headers)
    assert unchanged.json()["status"] == "requested"


async def test_a_visitor_requests_reads_and_cancels_their_consultation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key, scopes=["intake:consultations"]))[
        "key"
    ]
    headers = {**auth(key), "Origin": ORIGIN}
    form = {
        "type": "technical",
        "requester_name": "Petra",
        "requester_email": "petra@startup.example",
        "company_name": "Startup",
        "project_description": "Migrate our IVR",
    }
    receipt = await client.post("/v1/intake/support/consultations", json=form, headers=headers)
    assert receipt.status_code == 201, receipt.text
    token = receipt.json()["access_token"]
    mine = {**headers, "X-Access-Token": token}
    read = await client.get("/v1/intake/support/consultation", headers=mine)
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "requested"
    assert "outcome_notes" not in read.json()
    await client.post(
        f"{PATH}/{receipt.json()['id']}/schedule",
        json={"scheduled_at": WHEN, "meeting_url": "https://meet.example/x"},
        headers=tenant.headers,
    )
    read = await client.get("/v1/intake/support/consultation", headers=mine)
    assert read.json()["meeting_url"] == "https://meet.example/x"
    cancelled = await client.post(
        "/v1/intake/support/consultation/cancel", json={"reason": "found another"}, headers=mine
    )
    assert cancelled.json()["status"] == "cancelled"

    bot = await client.post(
        "/v1/intake/support/consultations", json={**form, "website": "x"}, headers=headers
    )
    assert bot.status_code == 201
    assert len((await client.get(PATH, headers=tenant.headers)).json()["data"]) == 1
    # A support-only key cannot request consultations; the token is this type's only.
    support_key = (await create_publishable_key(client, tenant.api_key))["key"]
    refused = await client.post(
        "/v1/intake/support/consultations",
        json=form,
        headers={**auth(support_key), "Origin": ORIGIN},
    )
    assert refused.status_code == 403
    as_ticket = await client.get(
        "/v1/intake/support/ticket",
        headers={**auth(support_key), "Origin": ORIGIN, "X-Access-Token": token},
    )
    assert as_ticket.status_code == 404
