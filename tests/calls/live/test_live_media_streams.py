"""Twilio-shaped, audio mode: a live call with ``live_audio`` is answered with
``<Connect><Stream>`` TwiML pointing at commbase; a fake carrier speaking Media Streams
over a WebSocket signed with Twilio's ``RequestValidator`` is bridged to the agent's
live channel (μ-law audio, marks and clear, both ways); forged handshakes, and the
text relay's socket for an audio call, are refused."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from commbase.calls.live.twiml import stream_url
from tests.calls.factories import dial_queued, fund_wallet, place
from tests.calls.live.conftest import next_frame
from tests.calls.live.test_live_twilio import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    install_twilio,
    send,
    settings,  # noqa: F401  (the Twilio settings fixture)
    signed,
)
from tests.identity.factories import make_tenant

STREAM_SID = "MZ" + "0123456789abcdef" * 2
CALL_SID = "CA" + "f" * 32
SILENCE = "//////////8="  # μ-law silence, base64


def stream_signed(call_id: str, *, token: str = AUTH_TOKEN) -> dict[str, str]:
    url = stream_url(PUBLIC_BASE_URL, call_id)
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, {})}


async def carrier_frame(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await ws.recv())
    return frame


async def test_media_streams_audio_is_relayed_both_ways(
    app: FastAPI,
    client: httpx.AsyncClient,
    server: str,
    settings: Any,  # noqa: F811
) -> None:
    api = install_twilio(app, settings)
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(client, tenant.headers, "+14155551234", live_agent=True, live_audio=True)
    assert placed.status_code == 201, placed.text
    assert (placed.json()["live_agent"], placed.json()["live_audio"]) == (True, True)
    call_id = placed.json()["id"]
    assert await dial_queued(app) == 1
    [(_, _, created)] = api.requests
    assert created["Twiml"] == (
        '<Response><Connect><Stream url="wss://api.example.test/v1/providers/twilio/stream/'
        f'{call_id}"/></Connect></Response>'
    )

    stream_path = f"ws://{server}/v1/providers/twilio/stream/{call_id}"
    relay_path = f"ws://{server}/v1/providers/twilio/relay/{call_id}"
    # Forged, missing, signed for another call or for the text relay's URL; and the
    # text relay's socket for an audio call: refused before the socket opens.
    for path, headers in (
        (stream_path, {}),
        (stream_path, stream_signed(call_id, token="not-the-auth-token")),
        (stream_path, stream_signed("call_other")),
        (stream_path, signed(call_id)),
        (relay_path, signed(call_id)),
        (f"ws://{server}/v1/providers/twilio/stream/call_unknown", stream_signed("call_unknown")),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(path, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403

    agent_url = f"ws://{server}/v1/calls/{call_id}/live"
    async with (
        connect(agent_url, additional_headers=tenant.headers) as agent,
        connect(stream_path, additional_headers=stream_signed(call_id)) as twilio,
    ):
        ready = await next_frame(agent)
        assert (ready["type"], ready["mode"]) == ("ready", "audio")
        await send(twilio, {"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await send(
            twilio,
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": STREAM_SID,
                "start": {
                    "streamSid": STREAM_SID,
                    "accountSid": "AC" + "0" * 32,
                    "callSid": CALL_SID,
                    "tracks": ["inbound"],
                    "customParameters": {},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            },
        )
        started = orjson.loads(await agent.recv())
        assert started == {
            "type": "status",
            "carrier": "connected",
            "carrier_name": "twilio",
            "mode": "audio",
            "stream_sid": STREAM_SID,
            "tracks": ["inbound"],
            "media_format": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        for chunk in (1, 2):
            await send(
                twilio,
                {
                    "event": "media",
                    "sequenceNumber": str(chunk + 1),
                    "streamSid": STREAM_SID,
                    "media": {
                        "track": "inbound",
                        "chunk": str(chunk),
                        "timestamp": str(20 * chunk),
                        "payload": SILENCE,
                    },
                },
            )
            heard = await next_frame(agent)
            assert heard == {
                "type": "audio",
                "payload": SILENCE,
                "timestamp": 20 * chunk,
                "track": "inbound",
            }

        await send(agent, {"type": "audio", "payload": SILENCE})
        assert await carrier_frame(twilio) == {
            "event": "media",
            "streamSid": STREAM_SID,
            "media": {"payload": SILENCE},
        }
        await send(agent, {"type": "mark", "name": "reply-1"})
        assert await carrier_frame(twilio) == {
            "event": "mark",
            "streamSid": STREAM_SID,
            "mark": {"name": "reply-1"},
        }
        # Twilio sends the mark back once the audio before it has played.
        await send(twilio, {"event": "mark", "streamSid": STREAM_SID, "mark": {"name": "reply-1"}})
        assert await next_frame(agent) == {"type": "mark", "name": "reply-1"}
        await send(agent, {"type": "clear"})
        assert await carrier_frame(twilio) == {"event": "clear", "streamSid": STREAM_SID}
        await send(twilio, {"event": "dtmf", "streamSid": STREAM_SID, "dtmf": {"digit": "5"}})
        assert await next_frame(agent) == {"type": "dtmf", "digit": "5"}

        # Text has no place on an audio call, and bad audio is refused.
        await send(agent, {"type": "say", "text": "Hello", "last": True})
        wrong = await next_frame(agent)
        assert (wrong["type"], wrong["code"]) == ("error", "wrong_mode")
        await send(agent, {"type": "audio", "payload": "not base64!"})
        invalid = await next_frame(agent)
        assert (invalid["type"], invalid["code"]) == ("error", "invalid_message")

        stop = {"event": "stop", "streamSid": STREAM_SID, "stop": {"callSid": CALL_SID}}
        await send(twilio, stop)
        gone = await next_frame(agent, skip=())
        assert (gone["type"], gone["carrier"]) == ("status", "disconnected")


async def test_a_text_call_refuses_audio_and_the_stream_socket(
    app: FastAPI,
    client: httpx.AsyncClient,
    server: str,
    settings: Any,  # noqa: F811
) -> None:
    install_twilio(app, settings)
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(client, tenant.headers, "+14155551234", live_agent=True)
    call_id = placed.json()["id"]
    assert placed.json()["live_audio"] is False
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://{server}/v1/providers/twilio/stream/{call_id}",
            additional_headers=stream_signed(call_id),
        ):
            pass
    assert refused.value.response.status_code == 403
    async with connect(
        f"ws://{server}/v1/calls/{call_id}/live", additional_headers=tenant.headers
    ) as agent:
        assert (await next_frame(agent))["mode"] == "text"
        await send(agent, {"type": "audio", "payload": SILENCE})
        wrong = await next_frame(agent)
        assert (wrong["type"], wrong["code"]) == ("error", "wrong_mode")
