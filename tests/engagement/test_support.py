"""Support tickets through /v1/support/tickets: seed 002's routes, the lifecycle,
gapless numbers under concurrency, SLA breaches, metrics and GDPR."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role
from tests.engagement.records_factories import events_of
from tests.identity.factories import Tenant, add_member, make_tenant

TICKETS = "/v1/support/tickets"


async def open_ticket(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("subject", "Invoice is wrong")
    body.setdefault("description", "Charged twice in March")
    response = await client.post(TICKETS, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def event_types(app: FastAPI, org_id: str, prefix: str = "ticket.") -> list[str]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent.type)
            .where(OutboxEvent.org_id == org_id, OutboxEvent.type.startswith(prefix))
            .order_by(OutboxEvent.id)
        )
        return list(rows)


async def test_seed_routes_and_the_ticket_lifecycle(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    agent_id, _ = await add_member(app, tenant, role=Role.AGENT)
    # POST /api/support/tickets
    ticket = await open_ticket(
        client,
        tenant,
        category="billing",
        priority="high",
        requester_email="Payer@Example.com",
        user_id=tenant.owner_id,
    )
    assert ticket["number"] == 1
    assert ticket["status"] == "open"
    assert ticket["source"] == "api"
    assert ticket["requester_email"] == "payer@example.com"
    created = datetime.fromisoformat(ticket["created_at"])
    due = datetime.fromisoformat(ticket["first_response_due_at"])
    assert (due - created).total_seconds() == 4 * 3600
    other = await open_ticket(client, tenant, category="technical")
    assert other["number"] == 2
    tid = ticket["id"]

    # GET /api/support/tickets/user/:userId, and other filters
    for query, expected in (
        (f"user_id={tenant.owner_id}", [tid]),
        ("category=technical", [other["id"]]),
        ("email=payer@EXAMPLE.com", [tid]),
        ("number=2", [other["id"]]),
        ("status=closed", []),
        ("limit=1", [other["id"]]),
    ):
        listed = await client.get(f"{TICKETS}?{query}", headers=tenant.headers)
        assert listed.status_code == 200, listed.text
        assert [t["id"] for t in listed.json()["data"]] == expected, query
    page = await client.get(f"{TICKETS}?limit=1", headers=tenant.headers)
    rest = await client.get(
        f"{TICKETS}?limit=1&cursor={page.json()['next_cursor']}", headers=tenant.headers
    )
    assert [t["id"] for t in rest.json()["data"]] == [tid]

    # GET /api/support/tickets/:ticketId
    read = await client.get(f"{TICKETS}/{tid}", headers=tenant.headers)
    assert read.json()["subject"] == "Invoice is wrong"

    changed = await client.patch(
        f"{TICKETS}/{tid}",
        json={"assignee_id": agent_id, "status": "pending", "priority": "urgent"},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["assignee_id"] == agent_id
    assert changed.json()["status"] == "pending"
    due = datetime.fromisoformat(changed.json()["first_response_due_at"])
    assert (due - created).total_seconds() == 3600

    # POST /api/support/tickets/:ticketId/messages: a note does not count as a reply
    note = await client.post(
        f"{TICKETS}/{tid}/messages",
        json={"body": "check ledger", "internal": True},
        headers=tenant.headers,
    )
    assert note.status_code == 201, note.text
    assert note.json()["internal"] is True
    assert (await client.get(f"{TICKETS}/{tid}", headers=tenant.headers)).json()[
        "first_responded_at"
    ] is None
    reply = await client.post(
        f"{TICKETS}/{tid}/messages", json={"body": "Refunded."}, headers=tenant.headers
    )
    assert reply.json()["author_type"] == "staff"
    assert reply.json()["author_user_id"] == tenant.owner_id
    after_reply = (await client.get(f"{TICKETS}/{tid}", headers=tenant.headers)).json()
    assert after_reply["first_response_s"] is not None

    illegal = await client.patch(
        f"{TICKETS}/{tid}", json={"status": "resolved"}, headers=tenant.headers
    )
    assert illegal.status_code == 409
    assert illegal.json()["status"] == 409
    assert illegal.json()["current_status"] == "pending"
    too_soon = await client.post(
        f"{TICKETS}/{tid}/satisfaction", json={"rating": 5}, headers=tenant.headers
    )
    assert too_soon.status_code == 409
    resolved = await client.post(
        f"{TICKETS}/{tid}/resolve", json={"resolution": "Refund issued"}, headers=tenant.headers
    )
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution_s"] is not None
    reopened = await client.post(f"{TICKETS}/{tid}/reopen", headers=tenant.headers)
    assert reopened.json()["status"] == "open"
    assert reopened.json()["resolved_at"] is None
    await client.post(
        f"{TICKETS}/{tid}/resolve", json={"resolution": "Refund issued"}, headers=tenant.headers
    )
    # POST /api/support/tickets/:ticketId/satisfaction
    rated = await client.post(
        f"{TICKETS}/{tid}/satisfaction",
        json={"rating": 5, "comment": "fast"},
        headers=tenant.headers,
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["satisfaction_rating"] == 5
    twice = await client.post(
        f"{TICKETS}/{tid}/satisfaction", json={"rating": 1}, headers=tenant.headers
    )
    assert twice.status_code == 409
    closed = await client.post(f"{TICKETS}/{tid}/close", headers=tenant.headers)
    assert closed.json()["status"] == "closed"
    for method, path, body in (
        ("POST", f"{TICKETS}/{tid}/messages", {"body": "late"}),
        ("POST", f"{TICKETS}/{tid}/close", None),
        ("POST", f"{TICKETS}/{tid}/reopen", None),
        ("PATCH", f"{TICKETS}/{tid}", {"subject": "changed"}),
    ):
        late = await client.request(method, path, json=body, headers=tenant.headers)
        assert late.status_code == 409, (path, late.text)

    # People named must belong to the organization.
    other_org = await make_tenant(app)
    for field in ("assignee_id", "user_id"):
        response = await client.post(
            TICKETS,
            json={"subject": "x", "description": "y", field: other_org.owner_id},
            headers=tenant.headers,
        )
        assert response.status_code == 404, response.text
    assert len((await client.get(TICKETS, headers=tenant.headers)).json()["data"]) == 2

    assert await event_types(app, tenant.org_id) == [
        "ticket.created",
        "ticket.created",
        "ticket.status_changed",
        "ticket.assigned",
        "ticket.updated",
        "ticket.message_added",
        "ticket.message_added",
        "ticket.resolved",
        "ticket.reopened",
        "ticket.resolved",
        "ticket.rated",
        "ticket.closed",
    ]


async def test_concurrent_creations_get_consecutive_distinct_numbers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    await open_ticket(client, other)  # another organization counts on its own

    async def create(n: int) -> httpx.Response:
        return await client.post(
            TICKETS, json={"subject": f"t{n}", "description": "d"}, headers=tenant.headers
        )

    answers = await asyncio.gather(*(create(n) for n in range(50)))
    assert [a.status_code for a in answers] == [201] * 50
    assert sorted(a.json()["number"] for a in answers) == list(range(1, 51))
    nxt = await open_ticket(client, tenant)
    assert nxt["number"] == 51


async def test_sla_breaches_are_announced_once_per_target(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with use_clock(clock):
        urgent = await open_ticket(client, tenant, priority="urgent")
        answered = await open_ticket(client, tenant, priority="urgent")
        await client.post(
            f"{TICKETS}/{answered['id']}/messages", json={"body": "on it"}, headers=tenant.headers
        )
        low = await open_ticket(client, tenant, priority="low")
        clock.advance(2 * 3600)
        run = await client.post("/v1/jobs/support.sla_breaches/runs", headers=tenant.headers)
        assert run.status_code == 201, run.text
        assert run.json()["rows"] == 1
        clock.advance(7 * 3600)  # 9 h: urgent resolution targets (8 h) pass
        await client.post("/v1/jobs/support.sla_breaches/runs", headers=tenant.headers)
        again = await client.post("/v1/jobs/support.sla_breaches/runs", headers=tenant.headers)
        assert again.json()["rows"] == 0
    assert (
        await event_types(app, tenant.org_id, "ticket.sla_breached") == ["ticket.sla_breached"] * 3
    )
    first = (await client.get(f"{TICKETS}/{urgent['id']}", headers=tenant.headers)).json()
    assert first["first_response_breached_at"] is not None
    assert first["resolution_breached_at"] is not None
    assert (await client.get(f"{TICKETS}/{low['id']}", headers=tenant.headers)).json()[
        "first_response_breached_at"
    ] is None


async def test_metrics_count_tickets_times_and_satisfaction(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with use_clock(clock):
        for rating in (3, 5):
            ticket = await open_ticket(client, tenant)
            clock.advance(600)
            await client.post(
                f"{TICKETS}/{ticket['id']}/messages", json={"body": "hi"}, headers=tenant.headers
            )
            clock.advance(3000)
            await client.post(
                f"{TICKETS}/{ticket['id']}/resolve",
                json={"resolution": "ok"},
                headers=tenant.headers,
            )
            await client.post(
                f"{TICKETS}/{ticket['id']}/satisfaction",
                json={"rating": rating},
                headers=tenant.headers,
            )
        await open_ticket(client, tenant)
        clock.advance(60)
        names = (
            "tickets.opened,tickets.resolved,tickets.first_response_time_avg,"
            "tickets.resolution_time_avg,tickets.satisfaction_avg"
        )
        series = await client.get(
            f"/v1/analytics/series?metrics={names}&compare=false"
            "&from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z&interval=day",
            headers=tenant.headers,
        )
    assert series.status_code == 200, series.text
    totals = {s["metric"]: s["total"] for s in series.json()["series"]}
    assert totals["tickets.opened"] == 3
    assert totals["tickets.resolved"] == 2
    assert totals["tickets.first_response_time_avg"] == 600
    assert totals["tickets.resolution_time_avg"] == 3600
    assert totals["tickets.satisfaction_avg"] == 4


async def test_erasing_a_contact_or_user_removes_their_tickets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    member_id, _ = await add_member(app, tenant, role=Role.AGENT)
    contact = await client.post("/v1/contacts", json={"name": "Carl"}, headers=tenant.headers)
    theirs = await open_ticket(client, tenant, contact_id=contact.json()["id"])
    about_member = await open_ticket(client, tenant, user_id=member_id)
    kept = await open_ticket(client, tenant, assignee_id=member_id)
    exported = await client.post(
        "/v1/privacy/exports",
        json={"subject_type": "contact", "subject_id": contact.json()["id"]},
        headers=tenant.headers,
    )
    assert exported.status_code == 201, exported.text
    for subject_type, subject_id in (("contact", contact.json()["id"]), ("user", member_id)):
        erased = await client.post(
            "/v1/privacy/erasures",
            json={"subject_type": subject_type, "subject_id": subject_id},
            headers=tenant.headers,
        )
        assert erased.status_code == 201, erased.text
    for gone in (theirs, about_member):
        response = await client.get(f"{TICKETS}/{gone['id']}", headers=tenant.headers)
        assert response.status_code == 404
    left = await client.get(f"{TICKETS}/{kept['id']}", headers=tenant.headers)
    assert left.status_code == 200
    assert left.json()["assignee_id"] is None


async def test_an_organization_sets_its_own_sla_targets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    h = tenant.headers
    path = "/v1/support/sla-targets"
    defaults = (await client.get(path, headers=h)).json()["targets"]
    assert {t["priority"]: (t["first_response_minutes"], t["default"]) for t in defaults} == {
        "low": (1440, True),
        "medium": (480, True),
        "high": (240, True),
        "urgent": (60, True),
    }
    body = {
        "targets": [
            {"priority": "urgent", "first_response_minutes": 10, "resolution_minutes": 30},
            {"priority": "low", "first_response_minutes": 2880, "resolution_minutes": 20160},
        ]
    }
    put = await client.put(path, json=body, headers=h)
    assert put.status_code == 200, put.text
    mine = {t["priority"]: t for t in put.json()["targets"]}
    assert (mine["urgent"]["resolution_minutes"], mine["urgent"]["default"]) == (30, False)
    assert mine["medium"]["default"] is True
    # Another organization keeps the defaults.
    theirs = (await client.get(path, headers=other.headers)).json()["targets"]
    assert all(t["default"] for t in theirs)

    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with use_clock(clock):
        urgent = await open_ticket(client, tenant, priority="urgent")
        assert urgent["first_response_due_at"] == "2026-03-02T09:10:00Z"
        assert urgent["resolution_due_at"] == "2026-03-02T09:30:00Z"
        elsewhere = await open_ticket(client, other, priority="urgent")
        assert elsewhere["first_response_due_at"] == "2026-03-02T10:00:00Z"
        clock.advance(11 * 60)
        run = await client.post("/v1/jobs/support.sla_breaches/runs", headers=h)
        assert run.json()["rows"] == 1
        clock.advance(20 * 60)  # 31 min: the urgent resolution target passed too
        await client.post("/v1/jobs/support.sla_breaches/runs", headers=h)
        quiet = await client.post("/v1/jobs/support.sla_breaches/runs", headers=other.headers)
        assert quiet.json()["rows"] == 0  # 31 min is within the default hour
    breaches = await events_of(app, tenant, "ticket.sla_breached")
    assert [(p["target"], p["due_at"]) for _, p in breaches] == [
        ("first_response", "2026-03-02T09:10:00+00:00"),
        ("resolution", "2026-03-02T09:30:00+00:00"),
    ]

    # Back to the defaults for every priority left out.
    reset = await client.put(path, json={"targets": []}, headers=h)
    assert all(t["default"] for t in reset.json()["targets"])
    for bad in (
        {"targets": [{"priority": "urgent", "first_response_minutes": 0, "resolution_minutes": 1}]},
        {"targets": [{"priority": "urgent", "first_response_minutes": 9, "resolution_minutes": 5}]},
        {"targets": [{"priority": "asap", "first_response_minutes": 1, "resolution_minutes": 1}]},
        {"targets": [body["targets"][0], body["targets"][0]]},
        {},
    ):
        refused = await client.put(path, json=bad, headers=h)
        assert refused.status_code == 422, (bad, refused.text)
    assert all(t["default"] for t in (await client.get(path, headers=h)).json()["targets"])
