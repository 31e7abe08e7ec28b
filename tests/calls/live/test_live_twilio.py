"""Twilio-shaped: an outbound call with a live agent is answered with ConversationRelay
TwiML; a fake carrier speaking ConversationRelay over a WebSocket signed with
Twilio's ``RequestValidator`` is bridged to the agent; a forged handshake is refused;
a transfer redirects the call at Twilio's REST API."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from twilio.http import HttpClient  # type: ignore[import-untyped, unused-ignore]
from twilio.http.response import Response  # type: ignore[import-untyped, unused-ignore]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from commbase.calls.live.twiml import relay_url
from commbase.calls.models import Call
from commbase.calls.providers import Carriers, Dialed, carriers_of
from commbase.calls.providers.twilio import TwilioProvider
from commbase.settings import Settings
from tests.calls.factories import dial_queued, fund_wallet, outbox_payloads, place
from tests.calls.live.conftest import next_frame, say
from tests.conftest import make_settings
from tests.identity.factories import make_tenant

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
PUBLIC_BASE_URL = "https://api.example.test"


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        call_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number="+14155550100",
        public_base_url=PUBLIC_BASE_URL,
    )


class TwilioApi(HttpClient):  # type: ignore[misc]
    """Twilio's REST API as the SDK sees it: records each request, answers like Twilio."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("test.twilio"), is_async=False)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, params: Any = None, data: Any = None, **_: Any) -> Any:
        self.requests.append((method, url, dict(data or {})))
        sid = url.rstrip("/").removesuffix(".json").rsplit("/", 1)[-1]
        sid = sid if sid.startswith("CA") else "CA" + "f" * 32
        body = {"sid": sid, "status": "queued", "account_sid": ACCOUNT_SID}
        return Response(
            201 if method == "POST" and sid == "CA" + "f" * 32 else 200, json.dumps(body)
        )


@dataclass
class TwilioThroughSdk:
    """The real ``TwilioProvider`` with the SDK talking to ``TwilioApi``."""

    provider: TwilioProvider
    api: TwilioApi = field(default_factory=TwilioApi)

    def __post_init__(self) -> None:
        from twilio.rest import Client  # type: ignore[import-untyped, unused-ignore]

        self.provider.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=self.api)

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def repeatable_dial(self) -> bool:
        return self.provider.repeatable_dial

    async def dial(self, *, call: Call, allowed_s: int, reference: str) -> Dialed:
        return await self.provider.dial(call=call, allowed_s=allowed_s, reference=reference)

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        await self.provider.act(call=call, action=action, parameters=parameters)


def install_twilio(app: FastAPI, settings: Settings) -> TwilioApi:
    twilio = TwilioThroughSdk(TwilioProvider(settings))
    current = carriers_of(app.state.job_services)
    app.state.job_services["call_carriers"] = Carriers(
        current.settings,
        providers={"twilio": twilio},  # type: ignore[dict-item]
    )
    return twilio.api


def signed(call_id: str, *, token: str = AUTH_TOKEN) -> dict[str, str]:
    signature = RequestValidator(token).compute_signature(relay_url(PUBLIC_BASE_URL, call_id), {})
    return {"X-Twilio-Signature": signature}


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def carrier_frame(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await ws.recv())
    return frame


async def test_a_conversation_relay_carrier_is_bridged_to_the_agent(
    app: FastAPI, client: httpx.AsyncClient, server: str, settings: Settings
) -> None:
    api = install_twilio(app, settings)
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(client, tenant.headers, "+14155551234", live_agent=True)
    assert placed.status_code == 201, placed.text
    call_id = placed.json()["id"]
    assert await dial_queued(app) == 1
    [(method, _, created)] = api.requests
    assert method == "POST"
    relay = f"wss://api.example.test/v1/providers/twilio/relay/{call_id}"
    assert created["Twiml"] == (
        f'<Response><Connect><ConversationRelay url="{relay}" language="en-US"/>'
        "</Connect></Response>"
    )

    relay_path = f"ws://{server}/v1/providers/twilio/relay/{call_id}"
    # Forged, missing or signed for another call: refused before the socket opens.
    for headers in (
        {},
        signed(call_id, token="not-the-auth-token"),
        signed("call_other"),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(relay_path, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403

    agent_url = f"ws://{server}/v1/calls/{call_id}/live"
    async with (
        connect(agent_url, additional_headers=tenant.headers) as agent,
        connect(relay_path, additional_headers=signed(call_id)) as twilio,
    ):
        assert (await next_frame(agent))["type"] == "ready"
        await send(twilio, {"type": "setup", "callSid": "CA" + "f" * 32, "from": "+1", "to": "+1"})
        connected = orjson.loads(await agent.recv())
        assert (connected["type"], connected["carrier"]) == ("status", "connected")

        await send(
            twilio,
            {
                "type": "prompt",
                "voicePrompt": "Hi, is this the clinic?",
                "lang": "en-US",
                "last": True,
            },
        )
        heard = await next_frame(agent)
        assert (heard["type"], heard["speaker"], heard["text"], heard["final"]) == (
            "utterance",
            "callee",
            "Hi, is this the clinic?",
            True,
        )
        await say(agent, "Yes, how can I help?")
        tokens = [await carrier_frame(twilio) for _ in range(5)]
        assert [(t["type"], t["token"], t["last"]) for t in tokens] == [
            ("text", "Yes, ", False),
            ("text", "how ", False),
            ("text", "can ", False),
            ("text", "I ", False),
            ("text", "help?", True),
        ]
        await send(twilio, {"type": "dtmf", "digit": "7"})
        assert (await next_frame(agent)) == {"type": "dtmf", "digit": "7"}
        await send(agent, {"type": "dtmf", "digits": "12#"})
        assert await carrier_frame(twilio) == {"type": "sendDigits", "digits": "12#"}
        await send(agent, {"type": "play", "url": "https://cdn.example.test/hold.mp3"})
        assert await carrier_frame(twilio) == {
            "type": "play",
            "source": "https://cdn.example.test/hold.mp3",
            "loop": 1,
        }
        await send(agent, {"type": "language", "language": "es-ES"})
        assert await carrier_frame(twilio) == {
            "type": "language",
            "ttsLanguage": "es-ES",
            "transcriptionLanguage": "es-ES",
        }
        await send(agent, {"type": "say", "text": "Let me check ", "last": False})
        await carrier_frame(twilio)
        await asyncio.sleep(0.01)  # the caller cuts in a moment later
        await send(
            twilio,
            {
                "type": "interrupt",
                "utteranceUntilInterrupt": "Let me",
                "durationUntilInterruptMs": 420,
            },
        )
        interrupt = await next_frame(agent)
        assert (interrupt["type"], interrupt["heard"], interrupt["duration_ms"]) == (
            "interrupt",
            "Let me",
            420,
        )
        await send(twilio, {"type": "prompt", "voicePrompt": "I need a human.", "last": True})
        await next_frame(agent)
        await send(
            agent, {"type": "transfer", "to": "+14155550199", "reason": "asked for a person"}
        )
        transferred = await next_frame(agent)
        assert (transferred["type"], transferred["to"]) == ("transferred", "+14155550199")

    [_, (method, url, update)] = api.requests
    assert method == "POST"
    assert url.endswith(f"/Calls/{'CA' + 'f' * 32}.json")
    assert update["Twiml"] == "<Response><Dial>+14155550199</Dial></Response>"
    [event] = await outbox_payloads(app, tenant, "call.transferred")
    assert (event["call_id"], event["to"], event["reason"]) == (
        call_id,
        "+14155550199",
        "asked for a person",
    )
    # The carrier's side writes its last lines as its socket closes.
    transcript: dict[str, Any] = {}
    for _ in range(100):
        shown = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
        transcript = shown.json()
        if len(transcript.get("segments", [])) == 4:
            break
        await asyncio.sleep(0.05)
    assert [(s["speaker"], s["text"]) for s in transcript["segments"]] == [
        ("callee", "Hi, is this the clinic?"),
        ("agent", "Yes, how can I help?"),
        ("agent", "Let me"),
        ("callee", "I need a human."),
    ]
    sides = [
        (e["side"], e["carrier"]) for e in await outbox_payloads(app, tenant, "call.live.connected")
    ]
    assert sorted(sides, key=str) == [("agent", None), ("carrier", "twilio")]


def test_a_call_without_a_live_agent_still_pauses_silently() -> None:
    from commbase.calls.providers.twilio import outbound_twiml

    call = Call(id="call_1", live_agent=False)
    assert outbound_twiml(call, allowed_s=600, public_base_url=PUBLIC_BASE_URL) == (
        '<Response><Pause length="600"/></Response>'
    )
    call.live_agent = True
    assert '<ConversationRelay url="wss://api.example.test/v1/providers/twilio/relay/call_1"' in (
        outbound_twiml(call, allowed_s=600, public_base_url=PUBLIC_BASE_URL)
    )
