"""Booking requests from website visitors (publishable key, ``intake:bookings``): a
visitor's booking starts pending, the same overlap rule holds, and the access token
reads and cancels that one booking."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.engagement.records_factories import events_of, ok, problem
from tests.engagement.test_intake import FORM as TICKET
from tests.engagement.test_intake import visitor
from tests.identity.factories import make_tenant
from tests.identity.test_publishable_keys import create_publishable_key

FORM = {
    "service": "Haircut",
    "starts_at": "2031-03-02T10:00:00Z",
    "duration_min": 45,
    "resource": "Chair 1",
    "client_name": "Vera Visitor",
    "client_email": "Vera@Visitor.example",
    "client_phone": "+14155550123",
}


async def book(client: httpx.AsyncClient, key: str, **overrides: Any) -> httpx.Response:
    return await client.post(
        "/v1/intake/bookings", json={**FORM, **overrides}, headers=visitor(key)
    )


async def test_a_visitor_books_reads_and_cancels_only_their_booking(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key, scopes=["intake:bookings"]))["key"]
    answer = await book(client, key)
    assert answer.status_code == 201, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    receipt = answer.json()
    assert (receipt["object"], receipt["status"]) == ("booking", "pending")
    token = receipt["access_token"]

    mine = await ok(client.get("/v1/intake/booking", headers=visitor(key, token)))
    assert mine["id"] == receipt["id"]
    assert (mine["service"], mine["status"], mine["resource"]) == ("Haircut", "pending", "Chair 1")
    assert (mine["starts_at"], mine["ends_at"]) == ("2031-03-02T10:00:00Z", "2031-03-02T10:45:00Z")
    assert "client_email" not in mine
    assert "price" not in mine

    staff = await ok(client.get(f"/v1/bookings/{receipt['id']}", headers=tenant.headers))
    assert (staff["status"], staff["price"], staff["client_email"]) == (
        "pending",
        0,
        "vera@visitor.example",
    )
    assert staff["currency"] == "USD"  # the organization's

    # The same overlap rule as any booking: Chair 1 is held 10:00-10:45.
    taken = await book(client, key, starts_at="2031-03-02T10:30:00Z")
    body = problem(taken, 409, "conflict")
    assert body["booking_id"] == receipt["id"]
    other_chair = await book(client, key, starts_at="2031-03-02T10:30:00Z", resource="Chair 2")
    assert other_chair.status_code == 201, other_chair.text
    other_token = other_chair.json()["access_token"]
    theirs = await ok(client.get("/v1/intake/booking", headers=visitor(key, other_token)))
    assert theirs["id"] == other_chair.json()["id"]

    cancelled = await ok(
        client.post(
            "/v1/intake/booking/cancel", json={"reason": "sick"}, headers=visitor(key, token)
        )
    )
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "sick")
    again = await client.post("/v1/intake/booking/cancel", headers=visitor(key, token))
    problem(again, 409, "conflict")
    # The time is free again, and the other visitor's booking is untouched.
    freed = await book(client, key, starts_at="2031-03-02T10:30:00Z")
    assert freed.status_code == 201, freed.text
    kept = await ok(client.get(f"/v1/bookings/{theirs['id']}", headers=tenant.headers))
    assert kept["status"] == "pending"
    created = [p["id"] for t, p in await events_of(app, tenant, "booking.created")]
    assert len(created) == 3

    # The token opens nothing else: no token, a made-up one, staff routes.
    for headers in (visitor(key), visitor(key, "cb_acc_nope")):
        refused = await client.get("/v1/intake/booking", headers=headers)
        assert refused.status_code in (401, 404), refused.text
    for path in ("/v1/bookings", f"/v1/bookings/{receipt['id']}"):
        assert (await client.get(path, headers=visitor(key, token))).status_code == 401


async def test_booking_intake_needs_its_scope_a_future_start_and_a_person(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    support_only = (await create_publishable_key(client, tenant.api_key))["key"]
    problem(await book(client, support_only), 403, "scope-missing")
    key = (await create_publishable_key(client, tenant.api_key, scopes=["intake:bookings"]))["key"]
    # A support ticket's token does not open a booking.
    ticket = await client.post(
        "/v1/intake/support/tickets", json=TICKET, headers=visitor(support_only)
    )
    assert ticket.status_code == 201, ticket.text
    foreign = await client.get(
        "/v1/intake/booking", headers=visitor(key, ticket.json()["access_token"])
    )
    assert foreign.status_code == 404
    for bad in (
        {"starts_at": "2001-01-01T10:00:00Z"},
        {"starts_at": None},
        {"client_email": "nope"},
        {"client_name": ""},
        {"duration_min": 0},
        {"price": 100},  # a visitor sets no price
        {"status": "confirmed"},
        {"date": "2031-03-02"},
    ):
        refused = await book(client, key, **bad)
        assert refused.status_code == 422, (bad, refused.text)
    bot = await book(client, key, website="http://spam.example")
    assert bot.status_code == 201
    listed = await ok(client.get("/v1/bookings", headers=tenant.headers))
    assert listed["data"] == []
