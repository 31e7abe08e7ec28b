"""Revoking a room's guest links: ``POST /v1/video/rooms/{id}/guest-links/revoke``."""

from __future__ import annotations

from datetime import datetime

import httpx
from fastapi import FastAPI

from tests.calls.video.conftest import guest_join, new_room
from tests.identity.factories import auth, create_key, make_tenant

PROBLEM = "application/problem+json"


async def _link(client: httpx.AsyncClient, headers: dict[str, str], room_id: str) -> str:
    made = await client.post(f"/v1/video/rooms/{room_id}/guest-links", json={}, headers=headers)
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


async def _revoke(
    client: httpx.AsyncClient, headers: dict[str, str], room_id: str
) -> httpx.Response:
    return await client.post(f"/v1/video/rooms/{room_id}/guest-links/revoke", headers=headers)


async def test_revoked_links_are_refused_and_links_made_afterwards_work(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    first = room["guest_token"]
    second = await _link(client, tenant.headers, room["id"])
    assert room["guest_links_revoked_at"] is None

    revoked = await _revoke(client, tenant.headers, room["id"])
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["room_id"] == room["id"]
    revoked_at = datetime.fromisoformat(revoked.json()["revoked_at"])
    for token in (first, second):
        refused = await guest_join(client, token, name="Mallory")
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert "revoked" in refused.json()["detail"]
    shown = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert datetime.fromisoformat(shown["guest_links_revoked_at"]) == revoked_at
    assert shown["status"] == "created"  # nobody got in

    third = await _link(client, tenant.headers, room["id"])
    joined = await guest_join(client, third, name="Ada")
    assert joined.status_code == 200, joined.text

    # Revoking again refuses the link made in between, too.
    assert (await _revoke(client, tenant.headers, room["id"])).status_code == 200
    assert (await guest_join(client, third)).status_code == 403
    assert (await guest_join(client, await _link(client, tenant.headers, room["id"]))).is_success


async def test_a_guest_already_in_is_not_kicked_and_may_reload(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    guest = (await guest_join(client, room["guest_token"], name="Ada")).json()
    assert (await _revoke(client, tenant.headers, room["id"])).status_code == 200

    # A reload: the revoked link with the guest's own access token is the same seat.
    again = await guest_join(client, room["guest_token"], access_token=guest["access_token"])
    assert again.status_code == 200, again.text
    assert again.json()["participant_id"] == guest["participant_id"]
    quality = await client.post(
        f"/v1/video/rooms/{room['id']}/quality",
        json={"rtt_ms": 40, "jitter_ms": 5, "packet_loss": 0.0, "mos": 4.3},
        headers=auth(guest["access_token"]),
    )
    assert quality.status_code == 202, quality.text
    # Another browser with the same link and no access token is a new guest: refused.
    assert (await guest_join(client, room["guest_token"], name="Eve")).status_code == 403


async def test_revoking_needs_calls_write_and_an_open_room_of_ones_own(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    room = await new_room(client, tenant)
    reader = await create_key(client, tenant.api_key, scopes=["calls:read"])
    refused = await _revoke(client, auth(reader["key"]), room["id"])
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert (await _revoke(client, other.headers, room["id"])).status_code == 404
    unknown = await _revoke(client, tenant.headers, "vroom_" + "0" * 26)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM
    malformed = await _revoke(client, tenant.headers, "x" * 300)
    assert malformed.status_code in (404, 422), malformed.text
    assert malformed.headers["content-type"] == PROBLEM
    # Nothing above revoked anything: the room's link still joins.
    assert (await guest_join(client, room["guest_token"])).status_code == 200

    assert (
        await client.post(f"/v1/video/rooms/{room['id']}/end", headers=tenant.headers)
    ).is_success
    ended = await _revoke(client, tenant.headers, room["id"])
    assert ended.status_code == 409
    assert ended.headers["content-type"] == PROBLEM
