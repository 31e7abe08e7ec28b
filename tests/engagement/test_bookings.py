"""Bookings (seed 004): made in the organization's zone, moved through their
statuses, never double-booked (also under concurrency), reminded once, and
published as iCalendar at a secret URL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from icalendar import Calendar

from tests.engagement.records_factories import (
    created,
    events_of,
    metric_totals,
    ok,
    problem,
    run_job,
)
from tests.identity.factories import Tenant, make_tenant


def _soon(hours: float) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return moment.isoformat()


async def _book(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("service", "Haircut")
    body.setdefault("currency", "CZK")
    if "date" not in body:
        body.setdefault("starts_at", _soon(48))
    return await created(client, "/v1/bookings", tenant.headers, body)


async def test_a_booking_is_made_in_the_organization_zone_and_moves_through_its_statuses(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    zone = await client.patch(
        "/v1/organizations/current", json={"timezone": "Europe/Prague"}, headers=tenant.headers
    )
    assert zone.status_code == 200, zone.text
    contact = await created(
        client, "/v1/contacts", tenant.headers, {"name": "Jana", "phone": "+420601123456"}
    )
    booking = await _book(
        client,
        tenant,
        contact_id=contact["id"],
        conversation_id="conv_pending_messaging",
        client_name="Jana Nováková",
        client_phone="+420 601 123 456",
        service="Haircut",
        date="2031-07-01",
        time="14:30",
        duration_min=45,
        price=45000,
        ai_notes="Prefers a quiet chair",
    )
    # 14:30 in Prague in summer is 12:30 UTC.
    assert booking["starts_at"] == "2031-07-01T12:30:00Z"
    assert booking["ends_at"] == "2031-07-01T13:15:00Z"
    assert (booking["local_date"], booking["local_time"], booking["timezone"]) == (
        "2031-07-01",
        "14:30:00",
        "Europe/Prague",
    )
    assert booking["client_phone"] == "+420601123456"
    assert (booking["status"], booking["price"], booking["currency"]) == ("pending", 45000, "CZK")
    url = f"/v1/bookings/{booking['id']}"
    assert await ok(client.get(url, headers=tenant.headers)) == booking

    confirmed = await ok(client.post(f"{url}/confirm", headers=tenant.headers))
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmed_at"]
    flags = await ok(
        client.patch(url, json={"confirmation_sent": True, "price": 50000}, headers=tenant.headers)
    )
    assert (flags["confirmation_sent"], flags["price"]) == (True, 50000)
    problem(await client.post(f"{url}/confirm", headers=tenant.headers), 409, "conflict")
    done = await ok(client.post(f"{url}/complete", headers=tenant.headers))
    assert done["status"] == "completed"
    assert done["completed_at"]
    # A completed booking is final.
    problem(await client.post(f"{url}/cancel", json={}, headers=tenant.headers), 409, "conflict")
    problem(await client.patch(url, json={"price": 1}, headers=tenant.headers), 409, "conflict")

    other = await _book(client, tenant, resource="Chair 2")
    cancelled = await ok(
        client.post(
            f"/v1/bookings/{other['id']}/cancel",
            json={"reason": "Client is ill"},
            headers=tenant.headers,
        )
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "Client is ill"
    assert cancelled["cancelled_at"]
    third = await _book(client, tenant)
    no_show = await ok(client.post(f"/v1/bookings/{third['id']}/no-show", headers=tenant.headers))
    assert no_show["status"] == "no_show"

    listed = await ok(client.get("/v1/bookings?status=cancelled", headers=tenant.headers))
    assert [b["id"] for b in listed["data"]] == [other["id"]]
    by_contact = await ok(
        client.get(f"/v1/bookings?contact_id={contact['id']}", headers=tenant.headers)
    )
    assert [b["id"] for b in by_contact["data"]] == [booking["id"]]
    ranged = await ok(
        client.get(
            "/v1/bookings",
            params={"starts_from": "2031-07-01T00:00:00Z", "starts_before": "2031-07-02T00:00:00Z"},
            headers=tenant.headers,
        )
    )
    assert [b["id"] for b in ranged["data"]] == [booking["id"]]
    page = await ok(client.get("/v1/bookings?limit=2", headers=tenant.headers))
    rest = await ok(
        client.get(f"/v1/bookings?limit=2&cursor={page['next_cursor']}", headers=tenant.headers)
    )
    assert len(page["data"]) == 2
    assert len(rest["data"]) == 1
    assert rest["next_cursor"] is None

    kinds = [kind for kind, _ in await events_of(app, tenant, "booking.")]
    assert kinds == [
        "booking.created",
        "booking.confirmed",
        "booking.updated",
        "booking.completed",
        "booking.created",
        "booking.cancelled",
        "booking.created",
        "booking.no_show",
    ]
    totals = await metric_totals(
        client,
        tenant.headers,
        "bookings.made",
        "bookings.cancelled",
        "bookings.no_shows",
        "bookings.revenue",
    )
    assert totals == {
        "bookings.made": 3,
        "bookings.cancelled": 1,
        "bookings.no_shows": 1,
        "bookings.revenue": 50000,
    }


async def test_overlapping_bookings_of_one_resource_or_staff_member_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    first = await _book(
        client, tenant, resource="Room A", starts_at="2031-03-02T10:00:00Z", duration_min=60
    )
    clash = await client.post(
        "/v1/bookings",
        json={
            "service": "Massage",
            "currency": "EUR",
            "resource": "Room A",
            "starts_at": "2031-03-02T10:30:00+00:00",
        },
        headers=tenant.headers,
    )
    body = problem(clash, 409, "conflict")
    assert body["booking_id"] == first["id"]
    # Back to back, another room, or another organization's Room A: all free.
    await _book(client, tenant, resource="Room A", starts_at="2031-03-02T11:00:00Z")
    await _book(client, tenant, resource="Room B", starts_at="2031-03-02T10:30:00Z")
    elsewhere = await make_tenant(app)
    await _book(client, elsewhere, resource="Room A", starts_at="2031-03-02T10:30:00Z")

    # A staff member is one resource too.
    staff = tenant.owner_id
    held = await _book(client, tenant, staff_user_id=staff, starts_at="2031-03-03T09:00:00Z")
    problem(
        await client.post(
            "/v1/bookings",
            json={
                "service": "Consult",
                "currency": "EUR",
                "staff_user_id": staff,
                "starts_at": "2031-03-03T09:59:00Z",
            },
            headers=tenant.headers,
        ),
        409,
        "conflict",
    )
    # Moving a booking onto taken time is refused and changes nothing.
    moved = await client.patch(
        f"/v1/bookings/{held['id']}",
        json={"resource": "Room A", "starts_at": "2031-03-02T10:15:00Z"},
        headers=tenant.headers,
    )
    problem(moved, 409, "conflict")
    assert await ok(client.get(f"/v1/bookings/{held['id']}", headers=tenant.headers)) == held
    # Cancelling frees the time.
    await ok(client.post(f"/v1/bookings/{first['id']}/cancel", json={}, headers=tenant.headers))
    await _book(
        client, tenant, resource="Room A", starts_at="2031-03-02T10:30:00Z", duration_min=30
    )


async def test_two_concurrent_overlapping_bookings_of_one_resource_one_succeeds(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)

    async def attempt(minute: int) -> httpx.Response:
        return await client.post(
            "/v1/bookings",
            json={
                "service": "Tennis court",
                "currency": "USD",
                "resource": "Court 1",
                "starts_at": f"2031-05-05T08:{minute:02d}:00Z",
                "duration_min": 60,
            },
            headers=tenant.headers,
        )

    for _ in range(3):
        answers = await asyncio.gather(attempt(0), attempt(30))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201, 409], [r.text for r in answers]
        winner = next(r for r in answers if r.status_code == 201).json()
        await ok(
            client.post(f"/v1/bookings/{winner['id']}/cancel", json={}, headers=tenant.headers)
        )
    listed = await ok(client.get("/v1/bookings?resource=Court 1", headers=tenant.headers))
    assert len(listed["data"]) == 3
    assert {b["status"] for b in listed["data"]} == {"cancelled"}


async def test_the_reminder_job_announces_each_booking_once_within_the_lead_time(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    soon = await _book(client, tenant, starts_at=_soon(2))
    later = await _book(client, tenant, starts_at=_soon(24 * 3))
    cancelled = await _book(client, tenant, starts_at=_soon(3))
    await ok(client.post(f"/v1/bookings/{cancelled['id']}/cancel", json={}, headers=tenant.headers))

    first = await run_job(client, tenant.headers, "engagement.booking_reminders")
    assert (first["status"], first["rows"]) == ("succeeded", 1)
    again = await run_job(client, tenant.headers, "engagement.booking_reminders")
    assert again["rows"] == 0
    reminders = await events_of(app, tenant, "booking.reminder_due")
    assert [payload["id"] for _, payload in reminders] == [soon["id"]]
    stamped = await ok(client.get(f"/v1/bookings/{soon['id']}", headers=tenant.headers))
    assert stamped["reminder_due_at"] is not None
    assert (await ok(client.get(f"/v1/bookings/{later['id']}", headers=tenant.headers)))[
        "reminder_due_at"
    ] is None

    # Moved into the lead time, the later booking is announced at the next run, once.
    await ok(
        client.patch(
            f"/v1/bookings/{later['id']}", json={"starts_at": _soon(5)}, headers=tenant.headers
        )
    )
    assert (await run_job(client, tenant.headers, "engagement.booking_reminders"))["rows"] == 1
    reminders = await events_of(app, tenant, "booking.reminder_due")
    assert [payload["id"] for _, payload in reminders] == [soon["id"], later["id"]]


async def test_calendar_feeds_publish_bookings_at_a_secret_url(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    in_room = await _book(client, tenant, service="Yoga", resource="Studio", starts_at=_soon(30))
    await _book(client, tenant, service="Pilates", resource="Gym", starts_at=_soon(30))
    everything = await created(client, "/v1/bookings/calendar-feeds", tenant.headers, {})
    studio = await created(
        client,
        "/v1/bookings/calendar-feeds",
        tenant.headers,
        {"name": "Studio", "resource": "Studio"},
    )
    assert "token" not in studio
    assert studio["url"].endswith(".ics")

    def path(feed: dict[str, Any]) -> str:
        return "/v1/calendars/" + str(feed["url"]).rsplit("/v1/calendars/", 1)[1]

    response = await client.get(path(studio))  # no credentials: the URL is the secret
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = calendar.walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Yoga"]
    assert str(events[0]["uid"]) == f"{in_room['id']}@commbase"
    assert str(events[0]["status"]) == "TENTATIVE"
    assert "Studio" in str(events[0]["location"])
    whole = Calendar.from_ical((await client.get(path(everything))).content)
    assert sorted(str(e["summary"]) for e in whole.walk("VEVENT")) == ["Pilates", "Yoga"]

    listed = await ok(client.get("/v1/bookings/calendar-feeds", headers=tenant.headers))
    assert {f["id"] for f in listed["data"]} == {everything["id"], studio["id"]}
    assert "url" not in listed["data"][0]
    gone = await client.delete(
        f"/v1/bookings/calendar-feeds/{studio['id']}", headers=tenant.headers
    )
    assert gone.status_code == 204
    problem(await client.get(path(studio)), 404, "not-found")
    problem(await client.get("/v1/calendars/cbcal_guessed.ics"), 404, "not-found")


async def test_bad_booking_input_is_refused_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    foreign_contact = await created(client, "/v1/contacts", other.headers, {"name": "Theirs"})
    await client.patch(
        "/v1/organizations/current", json={"timezone": "Europe/Prague"}, headers=tenant.headers
    )
    base = {"service": "Cut", "currency": "CZK", "starts_at": "2031-01-01T10:00:00Z"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**base, "starts_at": "2031-01-01T10:00:00"}, 422, "validation-failed"),  # naive
        ({"service": "Cut", "currency": "CZK"}, 422, "validation-failed"),  # no start
        ({"service": "Cut", "currency": "CZK", "date": "2031-01-01"}, 422, "validation-failed"),
        ({**base, "date": "2031-01-01", "time": "10:00"}, 422, "validation-failed"),
        ({**base, "currency": "ZZZ"}, 422, "validation-failed"),
        ({**base, "duration_min": 0}, 422, "validation-failed"),
        ({**base, "price": -1}, 422, "validation-failed"),
        ({**base, "status": "completed"}, 422, "validation-failed"),
        ({**base, "client_phone": "not a phone"}, 422, "validation-failed"),
        ({**base, "surprise": 1}, 422, "validation-failed"),
        # 02:30 on the last Sunday of March does not exist in Prague.
        (
            {"service": "Cut", "currency": "CZK", "date": "2031-03-30", "time": "02:30"},
            422,
            "validation-failed",
        ),
        ({**base, "contact_id": foreign_contact["id"]}, 404, "not-found"),
        ({**base, "staff_user_id": other.owner_id}, 404, "not-found"),
    ]
    for body, status, kind in cases:
        problem(await client.post("/v1/bookings", json=body, headers=tenant.headers), status, kind)
    problem(
        await client.get("/v1/bookings?starts_from=2031-01-01T00:00:00", headers=tenant.headers),
        422,
        "validation-failed",
    )
    problem(
        await client.get("/v1/bookings?status=lost", headers=tenant.headers),
        422,
        "validation-failed",
    )
    assert (await ok(client.get("/v1/bookings", headers=tenant.headers)))["data"] == []
    assert await events_of(app, tenant, "booking.") == []
