"""The signalling socket: an agent and a guest join one room; offers, answers and
candidates reach only their addressee; a reconnection replaces the earlier socket and
is counted; a screen share is recorded; the end reaches every socket; tokens of
another room or organization are refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.calls.factories import outbox_payloads
from tests.calls.video.conftest import frame_of, guest_join, new_room, send, signal
from tests.identity.factories import Tenant, make_tenant


async def three_in_a_room(
    client: httpx.AsyncClient, tenant: Tenant
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    guest = (await guest_join(client, room["guest_token"], name="Ada")).json()
    other = (await guest_join(client, room["guest_token"], name="Bob")).json()
    return room, agent, guest, other


async def nothing_more(ws: ClientConnection) -> None:
    """No frame arrives within a short while (after a ping round trip)."""
    await send(ws, type="ping")
    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert frame == {"type": "pong"}, frame


async def test_frames_reach_their_addressee_only(
    app: FastAPI, client: httpx.AsyncClient, server: str
) -> None:
    tenant = await make_tenant(app)
    room, agent, guest, other = await three_in_a_room(client, tenant)

    def url(grant: dict[str, Any]) -> str:
        return signal(server, room["id"], grant["access_token"])

    async with connect(url(guest)) as g, connect(url(other)) as o:
        welcome = await frame_of(g, "welcome")
        assert (welcome["participant_id"], welcome["role"], welcome["peers"]) == (
            guest["participant_id"],
            "guest",
            [],
        )
        assert welcome["room"]["status"] == "connected"
        assert welcome["ice_servers"][1]["username"].endswith(":" + guest["participant_id"])
        await frame_of(o, "welcome")
        joined = await frame_of(g, "peer_joined")
        assert joined["participant"]["participant_id"] == other["participant_id"]
        async with connect(url(agent)) as a:
            hello = await frame_of(a, "welcome")
            assert sorted(p["participant_id"] for p in hello["peers"]) == sorted(
                [guest["participant_id"], other["participant_id"]]
            )
            assert {p["name"] for p in hello["peers"]} == {"Ada", "Bob"}
            for ws in (g, o):
                seen = await frame_of(ws, "peer_joined")
                assert seen["participant"] == {
                    "participant_id": agent["participant_id"],
                    "role": "agent",
                    "name": "Agent",
                }
            # The newcomer offers to the guest; only the guest hears it.
            await send(a, type="offer", to=guest["participant_id"], sdp="v=0 offer")
            offer = await frame_of(g)
            assert offer == {"type": "offer", "from": agent["participant_id"], "sdp": "v=0 offer"}
            await send(g, type="answer", to=agent["participant_id"], sdp="v=0 answer")
            assert await frame_of(a) == {
                "type": "answer",
                "from": guest["participant_id"],
                "sdp": "v=0 answer",
            }
            candidate = {
                "candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            }
            await send(g, type="candidate", to=agent["participant_id"], candidate=candidate)
            relayed = await frame_of(a)
            assert relayed == {
                "type": "candidate",
                "from": guest["participant_id"],
                "candidate": candidate,
            }
            await nothing_more(o)  # the third participant heard none of it
            # Bad frames answer an error and the socket stays open.
            for bad, title in (
                ("not json", "invalid_json"),
                ('{"type": "offer", "to": "vpart_nobody", "sdp": "x"}', "unknown_peer"),
                (
                    orjson.dumps(
                        {"type": "offer", "to": agent["participant_id"], "sdp": "x"}
                    ).decode(),
                    "unknown_peer",
                ),
                ('{"type": "teleport"}', "invalid_message"),
            ):
                await a.send(bad)
                error = await frame_of(a)
                assert (error["type"], error["title"]) == ("error", title), error
            await a.send(
                orjson.dumps(
                    {"type": "offer", "to": guest["participant_id"], "sdp": "x" * (70 * 1024)}
                ).decode()
            )
            too_big = await frame_of(a)
            assert too_big["title"] == "frame_too_large"
            with pytest.raises(ConnectionClosed) as closed:
                await frame_of(a)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        left = await frame_of(g, "peer_left")
        assert left["participant_id"] == agent["participant_id"]


async def test_a_reconnection_replaces_the_socket_and_is_counted(
    app: FastAPI, client: httpx.AsyncClient, server: str
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    guest = (await guest_join(client, room["guest_token"], name="Ada")).json()
    async with connect(signal(server, room["id"], agent["access_token"])) as a:
        await frame_of(a, "welcome")
        first = await connect(signal(server, room["id"], guest["access_token"]))
        await frame_of(first, "welcome")
        await frame_of(a, "peer_joined")
        # The page reloads: it joins again with its access token, then a new socket.
        again = (
            await guest_join(client, room["guest_token"], access_token=guest["access_token"])
        ).json()
        assert again["participant_id"] == guest["participant_id"]
        async with connect(signal(server, room["id"], again["access_token"])) as second:
            welcome = await frame_of(second, "welcome")
            assert welcome["reconnection"] is True
            assert [p["participant_id"] for p in welcome["peers"]] == [agent["participant_id"]]
            with pytest.raises(ConnectionClosed) as closed:
                await frame_of(first)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4409
            assert (await frame_of(a, "peer_left"))["participant_id"] == guest["participant_id"]
            rejoined = await frame_of(a, "peer_joined")
            assert rejoined["participant"]["participant_id"] == guest["participant_id"]
            # Screen share: recorded, and the agent hears it.
            await send(second, type="screen_share", active=True)
            assert await frame_of(a, "screen_share") == {
                "type": "screen_share",
                "from": guest["participant_id"],
                "active": True,
            }
            await send(second, type="screen_share", active=False)
            await frame_of(a, "screen_share")
            ended = await client.post(f"/v1/video/rooms/{room['id']}/end", headers=tenant.headers)
            assert ended.status_code == 200
            for ws in (a, second):
                assert await frame_of(ws, "room_ended") == {"type": "room_ended"}
                with pytest.raises(ConnectionClosed):
                    await frame_of(ws)
    shown = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert (shown["reconnections"], shown["screen_share_used"]) == (1, True)
    call = (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()
    assert (call["reconnections"], call["screenshare_used"], call["status"]) == (
        1,
        True,
        "completed",
    )
    joins = await outbox_payloads(app, tenant, "video.participant.joined")
    assert [(j["participant_id"], j["reconnection"]) for j in joins] == [
        (agent["participant_id"], False),
        (guest["participant_id"], False),
        (guest["participant_id"], True),
    ]
    # The ended room takes no socket.
    async with connect(signal(server, room["id"], agent["access_token"])) as late:
        with pytest.raises(ConnectionClosed) as gone:
            await late.recv()
        assert gone.value.rcvd is not None
        assert gone.value.rcvd.code == 4410


async def test_a_leave_frame_takes_the_participant_out(
    app: FastAPI, client: httpx.AsyncClient, server: str
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    guest = (await guest_join(client, room["guest_token"])).json()
    async with connect(signal(server, room["id"], agent["access_token"])) as a:
        await frame_of(a, "welcome")
        async with connect(signal(server, room["id"], guest["access_token"])) as g:
            await frame_of(g, "welcome")
            await frame_of(a, "peer_joined")
            await send(g, type="leave")
            assert (await frame_of(a, "peer_left"))["participant_id"] == guest["participant_id"]
    left = await outbox_payloads(app, tenant, "video.participant.left")
    assert [p["participant_id"] for p in left] == [guest["participant_id"]]


async def test_another_room_or_organization_cannot_signal_in(
    app: FastAPI, client: httpx.AsyncClient, server: str
) -> None:
    ours, theirs = await make_tenant(app), await make_tenant(app)
    room = await new_room(client, ours)
    other_room = await new_room(client, theirs)
    stranger = (
        await client.post(f"/v1/video/rooms/{other_room['id']}/join", headers=theirs.headers)
    ).json()
    # Their member cannot join our room over REST...
    refused = await client.post(f"/v1/video/rooms/{room['id']}/join", headers=theirs.headers)
    assert refused.status_code == 404
    # ...nor signal into it with their own room's token, nor with a made-up one.
    for token, code in ((stranger["access_token"], 4403), ("cb_vpt_forged", 4401), ("", 4401)):
        async with connect(signal(server, room["id"], token)) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == code
    # Their participant token reaches none of our room's endpoints.
    for path, body in (("quality", {"mos": 4.0}), ("rating", {"rating": 5}), ("end", None)):
        answer = await client.post(
            f"/v1/video/rooms/{room['id']}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {stranger['access_token']}"},
        )
        assert answer.status_code == 404, (path, answer.text)
