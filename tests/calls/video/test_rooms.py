"""Video rooms over REST: creation, joining (members and guests), guest links, the
mesh limit, quality, the end billed once, wrap-up and rating."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from livekit import api as livekit

from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import outbox_types
from tests.calls.video.conftest import (
    LIVEKIT_KEY,
    LIVEKIT_SECRET,
    TURN_SECRET,
    guest_join,
    new_room,
)
from tests.identity.factories import auth, make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_a_room_is_a_video_call_without_a_phone_number(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant, title="Printer help", customer_name="Ada")
    assert room["status"] == "created"
    assert room["mode"] == "mesh"
    assert room["guest_token"].startswith("cb_vgl_")
    assert room["guest_url"] == (
        f"https://commbase.example.test/video/join?token={room['guest_token']}"
    )
    call = (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()
    assert (call["kind"], call["status"]) == ("video", "initiated")
    assert call["to_number"] is None
    listed = (await client.get("/v1/video/rooms", headers=tenant.headers)).json()
    assert [r["id"] for r in listed["data"]] == [room["id"]]
    assert listed["data"][0]["guest_token"] is None  # shown only when created
    assert "video.room.created" in await outbox_types(app, tenant)


async def test_member_and_guest_join_with_ice_servers_and_turn_credentials(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    joined = await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)
    assert joined.status_code == 200, joined.text
    agent = joined.json()
    assert agent["role"] == "agent"
    assert agent["access_token"].startswith("cb_vpt_")
    assert agent["signal_url"] == f"wss://commbase.example.test/v1/video/rooms/{room['id']}/signal"
    assert agent["sfu"] is None
    stun, turn = agent["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.test:3478"], "username": None, "credential": None}
    expiry, pid = turn["username"].split(":")
    assert pid == agent["participant_id"]
    assert int(expiry) > datetime.now(UTC).timestamp()
    expected = hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(turn["credential"]) == expected

    guest = await guest_join(client, room["guest_token"], name="Ada")
    assert guest.status_code == 200, guest.text
    assert (guest.json()["role"], guest.json()["name"]) == ("guest", "Ada")
    shown = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert shown["status"] == "connected"


async def test_an_altered_or_expired_guest_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    token = room["guest_token"]
    body, _, signature = token.partition(".")
    altered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    for bad in (altered, token + "x", "cb_vgl_nothing", token.replace("cb_vgl_", "cb_vpt_")):
        refused = await guest_join(client, bad)
        assert refused.status_code == 401, bad
        assert refused.headers["content-type"] == "application/problem+json"
    short = await client.post(
        f"/v1/video/rooms/{room['id']}/guest-links",
        json={"ttl_seconds": 60},
        headers=tenant.headers,
    )
    assert short.status_code == 201, short.text
    assert (await guest_join(client, short.json()["token"])).status_code == 200
    clock.advance(61)
    assert (await guest_join(client, short.json()["token"])).status_code == 401
    assert (await guest_join(client, token)).status_code == 200  # the 24 h link still works


async def test_a_mesh_room_holds_four(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    for _ in range(4):
        assert (await guest_join(client, room["guest_token"])).status_code == 200
    full = await guest_join(client, room["guest_token"])
    assert full.status_code == 409
    assert "at most 4" in full.json()["detail"]


async def test_rejoining_with_the_access_token_resumes_the_participant(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    first = (await guest_join(client, room["guest_token"], name="Ada")).json()
    again = await guest_join(client, room["guest_token"], access_token=first["access_token"])
    assert again.status_code == 200
    assert again.json()["participant_id"] == first["participant_id"]
    assert again.json()["reconnection"] is True
    member = (
        await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)
    ).json()
    member_again = (
        await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)
    ).json()
    assert member_again["participant_id"] == member["participant_id"]


async def test_an_sfu_room_hands_out_a_livekit_token_for_that_room_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant, mode="sfu")
    grant = (await guest_join(client, room["guest_token"], name="Ada")).json()
    assert grant["sfu"]["provider"] == "livekit"
    assert grant["sfu"]["url"] == "wss://livekit.example.test"
    claims = livekit.TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(grant["sfu"]["token"])
    assert claims.identity == grant["participant_id"]
    assert claims.video is not None
    assert claims.video.room == room["id"]
    assert claims.video.room_join is True
    assert not claims.video.room_admin
    assert not claims.video.room_create
    with pytest.raises(Exception):  # noqa: B017,PT011  (another secret: not LiveKit's token)
        livekit.TokenVerifier(LIVEKIT_KEY, "another-secret-of-enough-length-0123456789").verify(
            grant["sfu"]["token"]
        )


async def test_end_bills_the_duration_once_even_when_ended_twice_at_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    wallets = (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"]
    balance = wallets[0]["balance"]
    clock.advance(30)
    guest = (await guest_join(client, room["guest_token"], name="Ada")).json()
    clock.advance(20)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    clock.advance(150)  # 2.5 minutes connected: 3 billable minutes
    quality = await client.post(
        f"/v1/video/rooms/{room['id']}/quality",
        json={
            "rtt_ms": 80,
            "jitter_ms": 10,
            "packet_loss": 0.0,
            "mos": 4.4,
            "bitrate_kbps": 900,
            "frame_width": 640,
            "frame_height": 480,
            "fps": 30,
        },
        headers=auth(guest["access_token"]),
    )
    assert quality.status_code == 202, quality.text
    ends = await asyncio.gather(
        client.post(f"/v1/video/rooms/{room['id']}/end", headers=tenant.headers),
        client.post(f"/v1/video/rooms/{room['id']}/end", headers=auth(agent["access_token"])),
    )
    assert [e.status_code for e in ends] == [200, 200], [e.text for e in ends]
    ended = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert ended["status"] == "ended"
    assert (ended["waiting_seconds"], ended["response_seconds"]) == (20, 50)
    assert ended["duration_seconds"] == 150
    call = (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()
    assert (call["status"], call["billable_minutes"]) == ("completed", 3)
    assert (call["waiting_time_seconds"], call["response_time_seconds"]) == (20, 50)
    assert (call["video_resolution"], call["mos_score"], call["latency_ms"]) == ("640x480", 4.4, 40)
    assert call["quality"] == "excellent"
    assert call["cost_amount"] == 15  # 3 min at 0.05 USD
    after = (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"][0]
    assert (after["balance"], after["held"]) == (balance - 15, 0)
    charges = (await client.get("/v1/transactions", headers=tenant.headers)).json()["data"]
    assert [t["related_call_id"] for t in charges if t["category"] == "call_charge"] == [
        room["call_id"]
    ]
    types = await outbox_types(app, tenant)
    assert types.count("call.completed") == 1

    wrapped = await client.post(
        f"/v1/video/rooms/{room['id']}/wrap-up",
        json={"problem_solved": True, "outcome": "resolved"},
        headers=tenant.headers,
    )
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["problem_solved"] is True
    rated = await client.post(
        f"/v1/video/rooms/{room['id']}/rating",
        json={"rating": 5, "comment": "quick"},
        headers=auth(guest["access_token"]),
    )
    assert rated.status_code == 200, rated.text
    twice = await client.post(
        f"/v1/video/rooms/{room['id']}/rating",
        json={"rating": 1},
        headers=auth(guest["access_token"]),
    )
    assert twice.status_code == 409
    by_agent = await client.post(
        f"/v1/video/rooms/{room['id']}/rating",
        json={"rating": 1},
        headers=auth(agent["access_token"]),
    )
    assert by_agent.status_code == 403
    call = (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()
    assert (call["problem_solved"], call["review_rating"]) == (True, 5)


async def test_a_rooms_call_takes_no_carrier_action(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    hangup = await client.post(
        f"/v1/calls/{room['call_id']}/actions", json={"action": "hangup"}, headers=tenant.headers
    )
    assert hangup.status_code == 409, hangup.text
    assert "/v1/video/rooms/" in hangup.json()["detail"]
    shown = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert shown["status"] == "created"
