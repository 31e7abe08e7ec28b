"""Twilio-shaped, inbound: a Twilio number that connects out to its agent's ``wss://``
server (the carrier's ConversationRelay socket and ``setup`` lead commbase to open the
agent's WebSocket with a signed handshake the agent verifies); and a live call ended
at the organization's maximum duration (the carrier's bridge gets ``end``, the call
record says ``timeout`` once Twilio's status callback settles it)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
import orjson
import trustme
from fastapi import FastAPI
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from commbase.calls.live.connect_out import verify_handshake
from commbase.calls.live.context import LiveContext
from commbase.calls.live.twiml import relay_url
from commbase.calls.phone_numbers.carriers import INBOUND_PATH
from commbase.calls.providers.twilio import STATUS_PATH
from commbase.core.time import FrozenClock
from tests.calls.live.conftest import next_frame
from tests.calls.live.test_live_twilio import install_twilio
from tests.calls.test_inbound_twilio import (  # noqa: F401  (fixtures: settings, twilio, clock)
    ACCOUNT_SID,
    AUTH_TOKEN,
    BASE,
    CALLER,
    OUR_NUMBER,
    FakeTwilio,
    call_id_in,
    clock,
    incoming,
    post_signed,
    settings,
    setup_org,
    sid,
    twilio,
)
from tests.identity.factories import make_tenant

LIMIT_S = 120


def relay_signed(call_id: str) -> dict[str, str]:
    url = relay_url(BASE, call_id)
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, {})}


async def test_a_twilio_connect_number_opens_the_agents_socket_signed(
    app: FastAPI,
    client: httpx.AsyncClient,
    server: str,
    twilio: FakeTwilio,  # noqa: F811
    clock: FrozenClock,  # noqa: F811
) -> None:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)
    ctx = LiveContext.of(app)
    ctx.connect_ssl = ssl.create_default_context()
    ca.configure_trust(ctx.connect_ssl)
    handshakes: list[tuple[bool, str | None]] = []
    secret: dict[str, str] = {}
    attached = asyncio.Event()
    heard: list[dict[str, Any]] = []

    def check(connection: ServerConnection, request: Request) -> Response | None:
        url = f"wss://localhost:{connection.local_address[1]}{request.path}"
        valid = verify_handshake(secret["now"], headers=request.headers, url=url)
        handshakes.append((valid, request.headers.get("X-Commbase-Call")))
        return None if valid else connection.respond(403, "not commbase\n")

    async def agent(connection: ServerConnection) -> None:
        async for raw in connection:
            frame = orjson.loads(raw)
            heard.append(frame)
            if frame["type"] == "ready":
                attached.set()
            if frame["type"] == "utterance":
                say = {"type": "say", "text": "Bright Dental, Ada speaking.", "last": True}
                await connection.send(orjson.dumps(say).decode())
                await connection.send(orjson.dumps({"type": "hangup"}).decode())

    tenant = await make_tenant(app)
    async with serve(agent, "localhost", 0, process_request=check, ssl=server_tls) as agents:
        port = next(iter(agents.sockets)).getsockname()[1]
        url = f"wss://localhost:{port}/agents/ada"
        number = await setup_org(client, tenant, answer_mode="connect", connect_url=url)
        secret["now"] = number["connect_secret"]

        answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 7)))
        assert answered.status_code == 200, answered.text
        call_id = call_id_in(answered.text)
        assert "<Connect><ConversationRelay" in answered.text
        assert f'url="wss://api.example.test/v1/providers/twilio/relay/{call_id}"' in answered.text
        assert handshakes == []  # nobody is dialled before Twilio's socket arrives

        relay = f"ws://{server}/v1/providers/twilio/relay/{call_id}"
        async with connect(relay, additional_headers=relay_signed(call_id)) as carrier:
            setup = {"type": "setup", "callSid": sid("CA", 7), "from": CALLER, "to": OUR_NUMBER}
            await carrier.send(orjson.dumps(setup).decode())
            await asyncio.wait_for(attached.wait(), 10)
            assert handshakes == [(True, call_id)]
            prompt = {"type": "prompt", "voicePrompt": "Hello?", "lang": "cs-CZ", "last": True}
            await carrier.send(orjson.dumps(prompt).decode())
            token = orjson.loads(await asyncio.wait_for(carrier.recv(), 10))
            assert (token["type"], token["token"], token["last"]) == (
                "text",
                "Bright Dental, Ada speaking.",
                True,
            )
            end = orjson.loads(await asyncio.wait_for(carrier.recv(), 10))
            assert end["type"] == "end"
            assert orjson.loads(end["handoffData"]) == {"reason": "agent_hangup"}

    [utterance] = [f for f in heard if f["type"] == "utterance"]
    assert (utterance["speaker"], utterance["text"]) == ("callee", "Hello?")


async def test_a_twilio_live_call_ends_at_the_maximum_duration(
    app: FastAPI,
    client: httpx.AsyncClient,
    server: str,
    twilio: FakeTwilio,  # noqa: F811
    clock: FrozenClock,  # noqa: F811
    settings: Any,  # noqa: F811
) -> None:
    api = install_twilio(app, settings)  # the calls' REST API (hangups), through the SDK
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    changed = await client.patch(
        "/v1/organizations/current",
        json={"settings": {"ai_settings": {"max_call_duration": LIMIT_S}}},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    call_sid = sid("CA", 8)
    answered = await post_signed(client, INBOUND_PATH, incoming(call_sid))
    call_id = call_id_in(answered.text)
    call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (call["status"], call["max_duration_seconds"]) == ("in-progress", LIMIT_S)

    live = f"ws://{server}/v1/calls/{call_id}/live"
    relay = f"ws://{server}/v1/providers/twilio/relay/{call_id}"
    async with (
        connect(live, additional_headers=tenant.headers) as agent,
        connect(relay, additional_headers=relay_signed(call_id)) as carrier,
    ):
        assert (await next_frame(agent))["type"] == "ready"
        await carrier.send(orjson.dumps({"type": "setup", "callSid": call_sid}).decode())
        clock.advance(LIMIT_S)
        end = orjson.loads(await asyncio.wait_for(carrier.recv(), 10))
        assert end["type"] == "end"
        assert orjson.loads(end["handoffData"]) == {"reason": "max_duration"}
        # Twilio was asked to end the call...
        for _ in range(100):
            if api.requests:
                break
            await asyncio.sleep(0.05)
        [(method, url, update)] = api.requests
        assert (method, update["Status"]) == ("POST", "completed")
        assert url.endswith(f"/Calls/{call_sid}.json")
        # ...and its status callback settles the call, which keeps why it ended.
        done = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": call_sid,
            "CallStatus": "completed",
            "CallDuration": str(LIMIT_S),
            "Direction": "inbound",
            "From": CALLER,
            "To": OUR_NUMBER,
        }
        settled = await post_signed(client, STATUS_PATH, done)
        assert settled.status_code in (200, 204), settled.text
        ended = await next_frame(agent)
        assert (ended["type"], ended["end_reason"]) == ("ended", "timeout")

    record = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (record["status"], record["end_reason"], record["duration_seconds"]) == (
        "completed",
        "timeout",
        LIMIT_S,
    )
