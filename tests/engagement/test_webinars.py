"""Webinars and registrations (seed 002 ``webinars.js``): one registration per email
per webinar within capacity (also under concurrency), attendance in minutes,
engagement counts, feedback, cancelling; staff-only lookups by email or user;
website sign-up through a publishable key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from tests.engagement.records_factories import created, events_of, metric_totals, ok, problem
from tests.identity.factories import Tenant, auth, make_tenant
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key

WEBINAR = {"title": "AI receptionists 101", "starts_at": "2031-04-01T15:00:00Z", "capacity": 3}


async def _webinar(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    return await created(client, "/v1/webinars", tenant.headers, {**WEBINAR, **body})


async def _register(
    client: httpx.AsyncClient, tenant: Tenant, webinar_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/webinars/{webinar_id}/registrations", json=body, headers=tenant.headers
    )


async def test_registration_attendance_engagement_feedback_and_cancel(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    webinar = await _webinar(client, tenant, join_url="https://meet.example/ai101")
    assert (webinar["status"], webinar["registered"], webinar["join_url"]) == (
        "scheduled",
        0,
        "https://meet.example/ai101",
    )
    contact = await created(client, "/v1/contacts", h, {"name": "Eva"})
    first = await _register(
        client,
        tenant,
        webinar["id"],
        email="Eva@Example.com",
        name="Eva",
        company="Acme",
        user_id=tenant.owner_id,
        contact_id=contact["id"],
    )
    assert first.status_code == 201, first.text
    registration = first.json()
    assert (registration["email"], registration["status"], registration["source"]) == (
        "eva@example.com",
        "registered",
        "staff",
    )
    # One per email per webinar, whatever its case.
    again = problem(
        await _register(client, tenant, webinar["id"], email="EVA@example.com"),
        409,
        "already-exists",
    )
    assert again["registration_id"] == registration["id"]

    url = f"/v1/webinar-registrations/{registration['id']}"
    problem(await client.post(f"{url}/feedback", json={"rating": 5}, headers=h), 409, "conflict")
    problem(await client.post(f"{url}/leave", headers=h), 409, "conflict")
    joined = await ok(client.post(f"{url}/join", headers=h))
    assert joined["status"] == "attended"
    assert joined["in_session_since"] is not None
    assert (await ok(client.post(f"{url}/join", headers=h)))["joined_at"] == joined["joined_at"]
    left = await ok(client.post(f"{url}/leave", headers=h))
    assert (left["minutes_attended"], left["in_session_since"]) == (1, None)
    await ok(client.post(f"{url}/join", headers=h))
    assert (await ok(client.post(f"{url}/leave", headers=h)))["minutes_attended"] == 2

    counts = await asyncio.gather(
        *[
            client.post(
                f"{url}/engagement",
                json={"questions_asked": 1, "chat_messages": 2},
                headers=h,
            )
            for _ in range(4)
        ]
    )
    assert all(r.status_code == 200 for r in counts), [r.text for r in counts]
    engaged = await ok(client.post(f"{url}/engagement", json={"polls_answered": 1}, headers=h))
    assert (engaged["questions_asked"], engaged["chat_messages"], engaged["polls_answered"]) == (
        4,
        8,
        1,
    )
    rated = await ok(
        client.post(f"{url}/feedback", json={"rating": 4, "comment": "Useful"}, headers=h)
    )
    assert (rated["feedback_rating"], rated["feedback_comment"]) == (4, "Useful")

    other = (await _register(client, tenant, webinar["id"], email="tom@example.com")).json()
    cancelled = await ok(client.post(f"/v1/webinar-registrations/{other['id']}/cancel", headers=h))
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"]
    problem(
        await client.post(f"/v1/webinar-registrations/{other['id']}/cancel", headers=h),
        409,
        "conflict",
    )
    # A cancelled email may register again: the same registration reopens.
    back = await _register(client, tenant, webinar["id"], email="tom@example.com")
    assert back.status_code == 201, back.text
    assert (back.json()["id"], back.json()["status"]) == (other["id"], "registered")

    # Staff look registrations up by email (the seed's open route), user or webinar.
    by_email = await ok(
        client.get("/v1/webinar-registrations", params={"email": "EVA@example.com"}, headers=h)
    )
    assert [r["id"] for r in by_email["data"]] == [registration["id"]]
    by_user = await ok(
        client.get(f"/v1/webinar-registrations?user_id={tenant.owner_id}", headers=h)
    )
    assert [r["id"] for r in by_user["data"]] == [registration["id"]]
    of_webinar = await ok(
        client.get(f"/v1/webinar-registrations?webinar_id={webinar['id']}", headers=h)
    )
    assert len(of_webinar["data"]) == 2
    assert (await ok(client.get(f"/v1/webinars/{webinar['id']}", headers=h)))["registered"] == 2
    assert await ok(client.get(url, headers=h)) == rated

    totals = await metric_totals(
        client,
        h,
        "webinars.registrations",
        "webinars.attended",
        "webinars.attendance_rate",
        "webinars.minutes_attended",
    )
    assert totals == {
        "webinars.registrations": 2,
        "webinars.attended": 1,
        "webinars.attendance_rate": 50.0,
        "webinars.minutes_attended": 2,
    }
    kinds = [kind for kind, _ in await events_of(app, tenant, "webinar.")]
    assert kinds == [
        "webinar.created",
        "webinar.registration.created",
        "webinar.registration.joined",
        "webinar.registration.left",
        "webinar.registration.joined",
        "webinar.registration.left",
        "webinar.registration.feedback",
        "webinar.registration.created",
        "webinar.registration.cancelled",
        "webinar.registration.created",
    ]


async def test_capacity_holds_when_the_last_seats_are_taken_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    webinar = await _webinar(client, tenant, capacity=2)
    answers = await asyncio.gather(
        *[_register(client, tenant, webinar["id"], email=f"p{n}@example.com") for n in range(5)]
    )
    assert sorted(r.status_code for r in answers) == [201, 201, 409, 409, 409]
    full = next(r for r in answers if r.status_code == 409)
    assert full.json()["detail"] == "The webinar is full"
    assert (await ok(client.get(f"/v1/webinars/{webinar['id']}", headers=tenant.headers)))[
        "registered"
    ] == 2
    # Capacity cannot drop below who is registered; cancelled webinars take nobody.
    problem(
        await client.patch(
            f"/v1/webinars/{webinar['id']}", json={"capacity": 1}, headers=tenant.headers
        ),
        409,
        "conflict",
    )
    grown = await ok(
        client.patch(
            f"/v1/webinars/{webinar['id']}",
            json={"capacity": 10, "title": "Bigger room"},
            headers=tenant.headers,
        )
    )
    assert (grown["capacity"], grown["title"]) == (10, "Bigger room")
    await ok(client.post(f"/v1/webinars/{webinar['id']}/cancel", headers=tenant.headers))
    problem(
        await _register(client, tenant, webinar["id"], email="late@example.com"), 409, "conflict"
    )
    listed = await ok(client.get("/v1/webinars?status=cancelled", headers=tenant.headers))
    assert [w["id"] for w in listed["data"]] == [webinar["id"]]


async def test_a_visitor_signs_up_on_the_website_and_follows_only_their_registration(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    webinar = await _webinar(client, tenant)
    key = (await create_publishable_key(client, tenant.api_key, scopes=["intake:webinars"]))["key"]
    visitor = {**auth(key), "Origin": ORIGIN}
    form = {"webinar_id": webinar["id"], "email": "Vera@Visitor.example", "name": "Vera"}

    receipt = await created(client, "/v1/intake/webinars/registrations", visitor, form)
    assert (receipt["object"], receipt["status"]) == ("webinar_registration", "registered")
    mine = {**visitor, "X-Access-Token": receipt["access_token"]}
    read = await ok(client.get("/v1/intake/webinars/registration", headers=mine))
    assert (read["id"], read["email"]) == (receipt["id"], "vera@visitor.example")

    # The same email again: a receipt like any other that opens nothing, nothing stored.
    repeat = await created(client, "/v1/intake/webinars/registrations", visitor, form)
    assert repeat["id"] != receipt["id"]
    problem(
        await client.get(
            "/v1/intake/webinars/registration",
            headers={**visitor, "X-Access-Token": repeat["access_token"]},
        ),
        404,
        "not-found",
    )
    # The honeypot: a bot is answered the same way, and nothing is stored.
    bot = await created(
        client,
        "/v1/intake/webinars/registrations",
        visitor,
        {**form, "email": "bot@spam.example", "website": "http://spam.example"},
    )
    assert bot["object"] == "webinar_registration"
    staff_view = await ok(
        client.get(f"/v1/webinar-registrations?webinar_id={webinar['id']}", headers=tenant.headers)
    )
    assert [(r["id"], r["source"]) for r in staff_view["data"]] == [(receipt["id"], "intake")]

    # Another origin is refused; the seed's open lookup by email does not exist for visitors.
    refused = await client.post(
        "/v1/intake/webinars/registrations",
        json={**form, "email": "x@example.com"},
        headers={**visitor, "Origin": "https://evil.example"},
    )
    assert refused.status_code == 403, refused.text
    assert (
        await client.get("/v1/webinar-registrations?email=vera@visitor.example", headers=visitor)
    ).status_code in (401, 403)

    rated = problem(
        await client.post(
            "/v1/intake/webinars/registration/feedback", json={"rating": 5}, headers=mine
        ),
        409,
        "conflict",
    )
    assert "attended" in rated["detail"]
    cancelled = await ok(client.post("/v1/intake/webinars/registration/cancel", headers=mine))
    assert cancelled["status"] == "cancelled"
    # Full webinars refuse visitors too; an unknown webinar is a 404.
    problem(
        await client.post(
            "/v1/intake/webinars/registrations",
            json={**form, "webinar_id": "wbn_" + "0" * 26},
            headers=visitor,
        ),
        404,
        "not-found",
    )


async def test_bad_webinar_input_is_refused_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    h = tenant.headers
    for body in (
        {**WEBINAR, "starts_at": "2031-04-01T15:00:00"},
        {**WEBINAR, "capacity": 0},
        {**WEBINAR, "duration_min": 0},
        {**WEBINAR, "join_url": "not a url"},
        {**WEBINAR, "title": ""},
        {"title": "No start"},
    ):
        problem(await client.post("/v1/webinars", json=body, headers=h), 422, "validation-failed")
    webinar = await _webinar(client, tenant)
    theirs = await _webinar(client, other)
    problem(await _register(client, tenant, webinar["id"], email="nope"), 422, "validation-failed")
    problem(await _register(client, tenant, theirs["id"], email="a@example.com"), 404, "not-found")
    problem(
        await _register(
            client, tenant, webinar["id"], email="a@example.com", user_id=other.owner_id
        ),
        404,
        "not-found",
    )
    registration = (await _register(client, tenant, webinar["id"], email="b@example.com")).json()
    url = f"/v1/webinar-registrations/{registration['id']}"
    await ok(client.post(f"{url}/join", headers=h))
    for feedback in ({"rating": 0}, {"rating": 6}, {}):
        problem(
            await client.post(f"{url}/feedback", json=feedback, headers=h),
            422,
            "validation-failed",
        )
    problem(
        await client.post(f"{url}/engagement", json={"questions_asked": -1}, headers=h),
        422,
        "validation-failed",
    )
    problem(
        await client.patch(f"/v1/webinars/{webinar['id']}", json={"title": None}, headers=h),
        422,
        "validation-failed",
    )
    listed = await ok(
        client.get(f"/v1/webinar-registrations?webinar_id={webinar['id']}", headers=h)
    )
    assert [r["id"] for r in listed["data"]] == [registration["id"]]
    assert listed["data"][0]["feedback_rating"] is None
