"""GDPR for bookings, leads, webinar registrations, favorites, suggestions and
personalizations: a subject's records are exported, and erased or anonymised."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.engagement.favorites.models import Favorite
from commbase.engagement.personalizations.models import AgentPersonalization
from commbase.identity.roles import Role
from tests.engagement.records_factories import created, ok, problem
from tests.identity.factories import add_member, auth, login, make_tenant
from tests.privacy.factories import download, request_erasure, request_export


async def test_a_contacts_bookings_leads_and_registrations_are_exported_then_erased(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    contact = await created(client, "/v1/contacts", h, {"name": "Jana Nováková"})
    booking = await created(
        client,
        "/v1/bookings",
        h,
        {
            "contact_id": contact["id"],
            "client_name": "Jana Nováková",
            "client_email": "jana@example.cz",
            "service": "Haircut",
            "currency": "CZK",
            "price": 45000,
            "starts_at": "2031-02-02T09:00:00Z",
            "ai_notes": "Allergic to lavender",
        },
    )
    lead = await created(
        client,
        "/v1/leads",
        h,
        {"contact_id": contact["id"], "name": "Jana Nováková", "email": "jana@example.cz"},
    )
    webinar = await created(
        client, "/v1/webinars", h, {"title": "Intro", "starts_at": "2031-02-03T09:00:00Z"}
    )
    registration = await created(
        client,
        f"/v1/webinars/{webinar['id']}/registrations",
        h,
        {"email": "jana@example.cz", "contact_id": contact["id"]},
    )

    export = await request_export(client, h, "contact", contact["id"])
    _, text = await download(client, h, export["id"])
    for needle in (booking["id"], lead["id"], registration["id"], "Allergic to lavender"):
        assert needle in text

    await request_erasure(client, h, "contact", contact["id"])
    kept = await ok(client.get(f"/v1/bookings/{booking['id']}", headers=h))
    assert (kept["client_name"], kept["client_email"], kept["ai_notes"], kept["contact_id"]) == (
        None,
        None,
        None,
        None,
    )
    assert (kept["price"], kept["service"]) == (45000, "Haircut")  # the business's figures stay
    anonymous = await ok(client.get(f"/v1/leads/{lead['id']}", headers=h))
    assert (anonymous["name"], anonymous["email"], anonymous["contact_id"]) == (None, None, None)
    problem(
        await client.get(f"/v1/webinar-registrations/{registration['id']}", headers=h),
        404,
        "not-found",
    )


async def test_a_users_favorites_votes_and_personalizations_are_exported_then_erased(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    user_id, email = await add_member(app, tenant, role=Role.AGENT)
    member = auth(await login(client, email))
    await created(client, "/v1/favorites", member, {"type": "agent", "item_id": "neural-chat"})
    await ok(
        client.put(
            "/v1/personalizations",
            json={"agent_id": "neural-chat", "custom_instructions": "Call me Ursula"},
            headers=member,
        )
    )
    theirs = await created(
        client, "/v1/suggestions", member, {"title": "Dark mode", "description": "I am Ursula"}
    )
    owners = await created(client, "/v1/suggestions", h, {"title": "API", "description": "x"})
    for suggestion in (theirs, owners):
        voted = await client.post(
            f"/v1/suggestions/{suggestion['id']}/vote", json={"value": "up"}, headers=member
        )
        assert voted.status_code == 200, voted.text
    await created(client, f"/v1/suggestions/{owners['id']}/comments", member, {"body": "Ursula+1"})
    booking = await created(
        client,
        "/v1/bookings",
        h,
        {
            "service": "Demo",
            "currency": "EUR",
            "staff_user_id": user_id,
            "starts_at": "2031-02-02T09:00:00Z",
        },
    )

    export = await request_export(client, h, "user", user_id)
    _, text = await download(client, h, export["id"])
    for needle in ("neural-chat", "Call me Ursula", "I am Ursula", "Ursula+1", booking["id"]):
        assert needle in text

    await request_erasure(client, h, "user", user_id)
    async with app.state.db.sessionmaker() as session:
        for model in (Favorite, AgentPersonalization):
            left = await session.scalar(
                select(func.count()).select_from(model).where(model.user_id == user_id)
            )
            assert left == 0, model
    kept = await ok(client.get(f"/v1/suggestions/{theirs['id']}", headers=h))
    assert (kept["author_user_id"], kept["upvotes"], kept["score"]) == (None, 0, 0)
    assert "Ursula" not in kept["description"]
    other = await ok(client.get(f"/v1/suggestions/{owners['id']}", headers=h))
    assert (other["upvotes"], other["comment_count"]) == (0, 0)
    comments = await ok(client.get(f"/v1/suggestions/{owners['id']}/comments", headers=h))
    assert comments["data"] == []
    unlinked = await ok(client.get(f"/v1/bookings/{booking['id']}", headers=h))
    assert unlinked["staff_user_id"] is None
