"""One phone, one contact in an organization: a duplicate is a 409 naming the
contact that has the number, and nothing changes."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from tests.contacts.factories import create_contact, list_contacts, open_agent_session
from tests.identity.factories import make_tenant

PROBLEM = "application/problem+json"


async def test_creating_a_second_contact_with_a_phone_is_a_conflict(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    first = await create_contact(client, tenant.headers, name="Jan", phone="+420601123456")

    # The same number written differently is the same number.
    for written in ("+420601123456", "+420 601 123 456", "+420-601-123-456"):
        response = await client.post(
            "/v1/contacts", json={"name": "Jan again", "phone": written}, headers=tenant.headers
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "/problems/already-exists"
        assert problem["contact_id"] == first["id"]
        assert first["id"] in problem["detail"]
    assert [c["id"] for c in await list_contacts(client, tenant.headers)] == [first["id"]]

    # Contacts without a phone never collide; another organization has its own book.
    await create_contact(client, tenant.headers, name="No phone 1")
    await create_contact(client, tenant.headers, name="No phone 2")
    other = await make_tenant(app)
    elsewhere = await create_contact(client, other.headers, name="Jan", phone="+420601123456")
    assert elsewhere["phone"] == first["phone"]


async def test_updating_to_a_taken_phone_is_a_conflict_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    jan = await create_contact(client, tenant.headers, name="Jan", phone="+420601123456")
    eva = await create_contact(client, tenant.headers, name="Eva", phone="+420602654321")
    url = f"/v1/contacts/{eva['id']}"

    response = await client.patch(
        url, json={"name": "Eva N.", "phone": "+420 601 123 456"}, headers=tenant.headers
    )

    assert response.status_code == 409, response.text
    assert response.json()["contact_id"] == jan["id"]
    assert (await client.get(url, headers=tenant.headers)).json() == eva

    # Its own number again, clearing it, or a free number are fine.
    same = await client.patch(url, json={"phone": "+420602654321"}, headers=tenant.headers)
    assert same.status_code == 200, same.text
    cleared = await client.patch(url, json={"phone": None}, headers=tenant.headers)
    assert cleared.json()["phone"] is None
    moved = await client.patch(
        f"/v1/contacts/{jan['id']}", json={"phone": "+420602654321"}, headers=tenant.headers
    )
    assert moved.status_code == 200
    assert moved.json()["phone_formatted"] == "+420 602 654 321"
    # Jan's old number is free now.
    taken_back = await client.patch(url, json={"phone": "+420601123456"}, headers=tenant.headers)
    assert taken_back.status_code == 200, taken_back.text


async def test_an_agent_session_is_not_told_whose_number_it_is(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    team = await create_contact(client, tenant.headers, name="Team's", phone="+14155551234")
    _, agent = await open_agent_session(client, tenant.headers)
    own = await create_contact(client, agent, name="Mine", phone="+14155550000")

    hidden = await client.post(
        "/v1/contacts", json={"name": "x", "phone": "+14155551234"}, headers=agent
    )
    assert hidden.status_code == 409
    assert "contact_id" not in hidden.json()
    assert team["id"] not in hidden.text

    # Its own contact it may be told about.
    shown = await client.post(
        "/v1/contacts", json={"name": "x", "phone": "+14155550000"}, headers=agent
    )
    assert shown.status_code == 409
    assert shown.json()["contact_id"] == own["id"]
    # And the team sees whose it is.
    told = await client.post(
        "/v1/contacts", json={"name": "x", "phone": "+14155550000"}, headers=tenant.headers
    )
    assert told.json()["contact_id"] == own["id"]


async def test_concurrent_creates_with_one_phone_make_one_contact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)

    async def create(n: int) -> httpx.Response:
        return await client.post(
            "/v1/contacts",
            json={"name": f"Racer {n}", "phone": "+442079460958"},
            headers=tenant.headers,
        )

    responses = await asyncio.gather(*(create(n) for n in range(6)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409]
    created = next(r.json() for r in responses if r.status_code == 201)
    assert all(r.json()["contact_id"] == created["id"] for r in responses if r.status_code == 409)
    assert [c["id"] for c in await list_contacts(client, tenant.headers)] == [created["id"]]
