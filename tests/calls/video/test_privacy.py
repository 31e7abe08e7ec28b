"""A contact's video rooms are exported (never an access token's hash) and erased: the
guest's name, the customer's name and the notes go, the room and its billed call stay."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.calls.video.conftest import guest_join, new_room
from tests.identity.factories import make_tenant
from tests.privacy.factories import download, request_erasure, request_export


async def test_a_contacts_rooms_are_exported_and_erased(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    contact = await client.post("/v1/contacts", json={"name": "Ada"}, headers=tenant.headers)
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    room = await new_room(client, tenant, contact_id=contact_id, customer_name="Ada Lovelace")
    other = await new_room(client, tenant, fund=False, customer_name="Grace Hopper")
    joined = await guest_join(client, room["guest_token"], name="Ada L.")
    assert joined.status_code == 200, joined.text
    await guest_join(client, other["guest_token"], name="Grace H.")
    notes = {"problem_solved": True, "outcome": "resolved", "notes": "Ada's printer"}
    wrapped = await client.post(
        f"/v1/video/rooms/{room['id']}/wrap-up", json=notes, headers=tenant.headers
    )
    assert wrapped.status_code == 200, wrapped.text

    export = await request_export(client, tenant.headers, "contact", contact_id)
    files, text = await download(client, tenant.headers, export["id"])
    assert [r["id"] for r in files["video_rooms.json"]] == [room["id"]]
    assert [p["name"] for p in files["video_participants.json"]] == ["Ada L."]
    assert [p["id"] for p in files["video_participants.json"]] == [joined.json()["participant_id"]]
    assert "token_hash" not in text
    assert "Grace" not in text

    erasure = await request_erasure(client, tenant.headers, "contact", contact_id)
    assert (erasure["counts"]["video_rooms"], erasure["counts"]["video_participants"]) == (1, 1)
    shown = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert (shown["customer_name"], shown["wrap_up_notes"], shown["contact_id"]) == (
        None,
        None,
        None,
    )
    assert shown["outcome"] == "resolved"  # not personal: kept for the figures
    untouched = (await client.get(f"/v1/video/rooms/{other['id']}", headers=tenant.headers)).json()
    assert untouched["customer_name"] == "Grace Hopper"
