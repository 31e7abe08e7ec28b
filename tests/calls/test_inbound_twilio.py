"""Numbers at Twilio, inbound calls and recordings, Twilio-shaped: the SDK configures
the number through an httpx MockTransport standing in for Twilio's REST API, and
every webhook is signed with twilio's own RequestValidator and our auth token."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from twilio.rest import Client  # type: ignore[import-untyped, unused-ignore]

from commbase.calls.phone_numbers.carriers import INBOUND_PATH, TRANSPORT_KEY, TwilioHttpx
from commbase.calls.providers.twilio import STATUS_PATH, TwilioProvider
from commbase.calls.recordings.callbacks import RECORDING_PATH
from commbase.core.money import cost_of
from commbase.core.time import FrozenClock, use_clock
from commbase.privacy import domains as _domains  # noqa: F401  (fills the registry)
from commbase.privacy.registry import retention_kinds
from commbase.privacy.retention import purge_kind
from commbase.settings import Settings
from tests.calls.factories import dial_queued, fund_wallet, install_carrier, outbox_types, place
from tests.conftest import make_settings
from tests.core.conftest import assert_problem
from tests.identity.factories import Tenant, make_tenant
from tests.privacy.factories import download, request_erasure, request_export

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
BASE = "https://api.example.test"
OUR_NUMBER = "+14155550123"
CALLER = "+420601123456"
NUMBER_SID = "PN" + "a" * 32
RECORDING_SID = "RE" + "b" * 32
RECORDING_URL = (
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}"
)
AUDIO = b"ID3" + bytes(range(256)) * 300  # what Twilio serves as the MP3
# Saturday 28 November 2026, 11:00 in Prague; Wednesday 25th, 11:00 is a working day.
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
WEEKDAYS_9_17 = {d: "9-17" for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
INBOUND_RATE = Decimal("0.02")


class FakeTwilio:
    """Twilio's REST API: the account owns OUR_NUMBER; serves one recording."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.dialed: list[dict[str, str]] = []  # the form of each Calls.json POST

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/IncomingPhoneNumbers.json") and request.method == "GET":
            owned = request.url.params.get("PhoneNumber") == OUR_NUMBER
            numbers = [{"sid": NUMBER_SID, "phone_number": OUR_NUMBER}] if owned else []
            return httpx.Response(
                200,
                json={
                    "incoming_phone_numbers": numbers,
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": 1,
                    "uri": path,
                },
            )
        if path.endswith(f"/IncomingPhoneNumbers/{NUMBER_SID}.json"):
            form = dict(parse_qsl(request.content.decode()))
            return httpx.Response(200, json={"sid": NUMBER_SID, "voice_url": form.get("VoiceUrl")})
        if path.endswith("/Calls.json") and request.method == "POST":
            self.dialed.append(dict(parse_qsl(request.content.decode())))
            call_sid = sid("CA", 900 + len(self.dialed))
            return httpx.Response(201, json={"sid": call_sid, "status": "queued"})
        if path.endswith(f"/Recordings/{RECORDING_SID}.mp3"):
            return httpx.Response(200, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
        return httpx.Response(404, json={"code": 20404, "message": "not found", "status": 404})


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        call_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=BASE,
        inbound_rate_per_minute=INBOUND_RATE,
    )


@pytest.fixture
def twilio(app: FastAPI) -> FakeTwilio:
    fake = FakeTwilio()
    app.state.job_services[TRANSPORT_KEY] = httpx.MockTransport(fake)
    return fake


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(WEDNESDAY)
    with use_clock(frozen):
        yield frozen


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


async def post_signed(
    client: httpx.AsyncClient, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN
) -> httpx.Response:
    signature = sign(BASE + path, params, token)
    return await client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def incoming(call_sid: str, *, caller: str = CALLER) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "To": OUR_NUMBER,
        "Called": OUR_NUMBER,
        "Caller": caller,
    }


def sid(prefix: str, n: int) -> str:
    return prefix + f"{n:032x}"


async def setup_org(
    client: httpx.AsyncClient, tenant: Tenant, *, privacy: bool = False, **number: Any
) -> dict[str, Any]:
    """Working hours Mon-Fri 9-17 in Prague, a funded wallet and the Twilio number."""
    patched = await client.patch(
        "/v1/organizations/current",
        json={
            "timezone": "Europe/Prague",
            "language": "cs",
            "settings": {"ai_settings": {"working_hours": WEEKDAYS_9_17, "tone": "friendly"}},
        },
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    await fund_wallet(client, tenant.headers, amount=10_000)
    created = await client.post(
        "/v1/phone-numbers",
        json={
            "number": OUR_NUMBER,
            "provider": "twilio",
            "agent_id": "receptionist",
            "privacy_mode": privacy,
            **number,
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def call_id_in(twiml: str) -> str:
    found = re.search(r"(call_[0-9a-z]+)", twiml)
    assert found, twiml
    return found.group(1)


async def test_registering_a_twilio_number_points_its_voice_url_at_commbase(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    tenant = await make_tenant(app)
    number = await setup_org(client, tenant)

    assert (number["provider"], number["provider_sid"]) == ("twilio", NUMBER_SID)
    update = twilio.requests[-1]
    assert update.method == "POST"
    assert update.url.path.endswith(f"/{NUMBER_SID}.json")
    form = dict(parse_qsl(update.content.decode()))
    assert form["VoiceUrl"] == BASE + INBOUND_PATH
    assert form["StatusCallback"] == BASE + STATUS_PATH
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert update.headers["authorization"] == f"Basic {expected}"

    # A number the account does not own is refused, and nothing is stored.
    other = await client.post(
        "/v1/phone-numbers",
        json={"number": "+14155550999", "provider": "twilio"},
        headers=tenant.headers,
    )
    assert_problem(other, 409, "conflict")
    listed = await client.get("/v1/phone-numbers", headers=tenant.headers)
    assert [n["number"] for n in listed.json()["data"]] == [OUR_NUMBER]


async def test_a_signed_inbound_call_in_working_hours_is_bridged_by_conversation_relay(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)

    answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 1)))

    assert answered.status_code == 200, answered.text
    assert answered.headers["content-type"].startswith("application/xml")
    call_id = call_id_in(answered.text)
    relay = f'url="wss://api.example.test/v1/providers/twilio/relay/{call_id}"'
    assert "<Connect><ConversationRelay" in answered.text
    assert relay in answered.text
    assert 'language="cs-CZ"' in answered.text
    assert '<Parameter name="tone" value="friendly"' in answered.text
    call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (call["direction"], call["status"], call["provider"]) == (
        "inbound",
        "in-progress",
        "twilio",
    )
    contacts = (await client.get("/v1/contacts", headers=tenant.headers)).json()["data"]
    assert [c["phone"] for c in contacts] == [CALLER]
    assert "call.inbound" in await outbox_types(app, tenant)

    # Twilio retrying the webhook gets the same answer; no second call.
    again = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 1)))
    assert again.text == answered.text
    listed = (await client.get("/v1/calls", headers=tenant.headers)).json()["data"]
    assert [c["id"] for c in listed] == [call_id]


async def test_a_forged_or_unsigned_inbound_webhook_is_refused(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    params = incoming(sid("CA", 2))

    forged = await post_signed(client, INBOUND_PATH, params, token="not-our-token-0123456789")
    unsigned = await client.post(INBOUND_PATH, data=params)
    tampered_sig = sign(BASE + INBOUND_PATH, params)
    tampered = await client.post(
        INBOUND_PATH,
        data={**params, "From": "+14155550000"},
        headers={"X-Twilio-Signature": tampered_sig},
    )

    for response in (forged, unsigned, tampered):
        assert_problem(response, 401, "authentication-required")
    assert (await client.get("/v1/calls", headers=tenant.headers)).json()["data"] == []


async def test_out_of_hours_the_caller_hears_the_greeting_and_leaves_a_voicemail(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant, after_hours_greeting="Dobrý den, máme zavřeno.")
    with use_clock(FrozenClock(SATURDAY)):
        answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 3)))

    assert answered.status_code == 200, answered.text
    call_id = call_id_in(answered.text)
    assert '<Say language="cs-CZ">Dobrý den, máme zavřeno.</Say>' in answered.text
    assert "<Record " in answered.text
    assert "ConversationRelay" not in answered.text
    callback = f"{BASE}{RECORDING_PATH}?call={call_id}&amp;kind=voicemail"
    assert f'recordingStatusCallback="{callback}"' in answered.text

    # The <Record action> ends the call without creating another one.
    done_path = f"{INBOUND_PATH}?done={call_id}"
    done = await post_signed(client, done_path, incoming(sid("CA", 3)))
    assert done.status_code == 200
    assert "<Hangup />" in done.text

    # The voicemail arrives as a signed recording callback and streams back.
    path = f"{RECORDING_PATH}?call={call_id}&kind=voicemail"
    report = recording_report(sid("CA", 3), duration="17")
    stored = await post_signed(client, path, report)
    assert stored.status_code == 204, stored.text
    recordings = (
        await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)
    ).json()
    assert [(r["kind"], r["duration_seconds"], r["channels"]) for r in recordings["data"]] == [
        ("voicemail", 17, 1)
    ]
    audio = await client.get(f"/v1/calls/{call_id}/recording", headers=tenant.headers)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/mpeg"
    assert audio.content == AUDIO
    # Twilio's callback has no size: it is learnt from the download and kept.
    listed = (await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)).json()
    assert [r["size_bytes"] for r in listed["data"]] == [len(AUDIO)]
    fetched = twilio.requests[-1]
    assert str(fetched.url) == RECORDING_URL + ".mp3"
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert fetched.headers["authorization"] == f"Basic {expected}"

    # A repeated callback stores nothing more and announces nothing more.
    assert (await post_signed(client, path, report)).status_code == 204
    again = (await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)).json()
    assert len(again["data"]) == 1
    assert (await outbox_types(app, tenant)).count("recording.completed") == 1


async def test_out_of_hours_forward(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    tenant = await make_tenant(app)
    await setup_org(
        client, tenant, after_hours_action="forward", after_hours_forward_to="+420777000111"
    )
    with use_clock(FrozenClock(SATURDAY)):
        answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 4)))
    assert "<Say" in answered.text
    assert re.search(r'<Dial timeLimit="\d+">\+420777000111</Dial>', answered.text), answered.text
    assert "<Record" not in answered.text


def recording_report(call_sid: str, *, duration: str = "42") -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": RECORDING_URL,
        "RecordingStatus": "completed",
        "RecordingDuration": duration,
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": "Sat, 28 Nov 2026 10:00:05 +0000",
    }


async def test_a_private_number_is_never_recorded(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant, privacy=True)
    with use_clock(FrozenClock(SATURDAY)):
        answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 5)))
    assert "<Say" in answered.text
    assert "<Hangup />" in answered.text
    assert "<Record" not in answered.text
    [call] = (await client.get("/v1/calls", headers=tenant.headers)).json()["data"]
    call_id = call["id"]
    assert (call["direction"], call["privacy_mode"]) == ("inbound", True)

    # A recording report for it anyway is acknowledged and ignored.
    ignored = await post_signed(
        client, f"{RECORDING_PATH}?call={call_id}", recording_report(sid("CA", 5))
    )
    assert ignored.status_code == 204
    assert_problem(
        await client.get(f"/v1/calls/{call_id}/recording", headers=tenant.headers), 404, "not-found"
    )
    assert "recording.completed" not in await outbox_types(app, tenant)


async def test_inbound_minutes_are_billed_once_at_the_inbound_rate(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 6)))
    call_id = call_id_in(answered.text)
    completed = {
        **incoming(sid("CA", 6)),
        "CallStatus": "completed",
        "CallDuration": "125",
        "Timestamp": "Wed, 25 Nov 2026 10:02:05 +0000",
    }
    for _ in range(3):  # Twilio repeats callbacks
        delivered = await post_signed(client, STATUS_PATH, completed)
        assert delivered.status_code == 204, delivered.text

    call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (call["status"], call["billable_minutes"]) == ("completed", 3)
    assert call["cost_amount"] == cost_of(3, INBOUND_RATE, "USD") == 6
    entries = await client.get(f"/v1/transactions?call_id={call_id}", headers=tenant.headers)
    assert [e["amount"] for e in entries.json()["data"]] == [6]
    wallets = (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"]
    assert [(w["balance"], w["held"]) for w in wallets] == [(10_000 - 6, 0)]


async def test_an_inbound_call_is_charged_its_callers_country_inbound_rate_once(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    for body in (
        {"direction": "inbound", "country": "CZ", "per_minute": "0.05"},  # the caller's
        {"direction": "inbound", "country": "DE", "per_minute": "0.90"},
        {"direction": "inbound", "per_minute": "0.40"},  # inbound from anywhere else
        {"country": "CZ", "per_minute": "0.70"},  # outbound: calls placed to CZ
    ):
        put = await client.put("/v1/rates", json=body, headers=tenant.headers)
        assert put.status_code == 200, put.text
    rates = (await client.get("/v1/rates", headers=tenant.headers)).json()["data"]
    shown = {(r["direction"], r["country"], r["per_minute"]) for r in rates}
    assert shown == {
        ("inbound", "CZ", "0.05"),
        ("inbound", "DE", "0.9"),
        ("inbound", None, "0.4"),
        ("outbound", "CZ", "0.7"),
    }

    charged = {}
    for n, caller in ((8, CALLER), (9, "+12125550147")):  # from CZ, then from the US
        answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", n), caller=caller))
        call_id = call_id_in(answered.text)
        completed = {
            **incoming(sid("CA", n), caller=caller),
            "CallStatus": "completed",
            "CallDuration": "125",
            "Timestamp": "Wed, 25 Nov 2026 10:02:05 +0000",
        }
        for _ in range(2):  # Twilio repeats callbacks
            delivered = await post_signed(client, STATUS_PATH, completed)
            assert delivered.status_code == 204, delivered.text
        call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
        assert (call["status"], call["billable_minutes"]) == ("completed", 3)
        entries = await client.get(f"/v1/transactions?call_id={call_id}", headers=tenant.headers)
        charged[caller] = [e["amount"] for e in entries.json()["data"]]
        assert [call["cost_amount"]] == charged[caller]

    assert charged == {
        CALLER: [cost_of(3, Decimal("0.05"), "USD")],  # CZ's inbound rate, once: 15
        "+12125550147": [cost_of(3, Decimal("0.40"), "USD")],  # no US rate: 120
    }
    wallets = (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"]
    assert [(w["balance"], w["held"]) for w in wallets] == [(10_000 - 15 - 120, 0)]


async def test_a_call_to_a_number_no_organization_registered_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    params = {**incoming(sid("CA", 7)), "To": "+14155550888"}
    answered = await post_signed(client, INBOUND_PATH, params)
    assert answered.status_code == 200
    assert "<Reject />" in answered.text


async def test_a_recorded_outbound_call_is_stored_by_its_signed_callback_and_streamed(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, settings: Settings
) -> None:
    """The real TwilioProvider dials through the SDK (over the same fake API): a
    recorded call asks for the recording callback, a private one is not recorded."""
    provider = TwilioProvider(settings)
    provider.client = Client(
        ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpx(app.state.job_services[TRANSPORT_KEY])
    )
    install_carrier(app, provider)  # type: ignore[arg-type]
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    body = {"from": OUR_NUMBER, "recording_enabled": True}
    recorded = await place(client, tenant.headers, "+14155550161", **body)
    private = await place(client, tenant.headers, "+14155550162", privacy_mode=True, **body)
    assert recorded.status_code == private.status_code == 201, private.text
    assert await dial_queued(app) == 2

    by_to = {form["To"]: form for form in twilio.dialed}
    call_id = recorded.json()["id"]
    callback = f"{BASE}{RECORDING_PATH}?call={call_id}"
    assert by_to["+14155550161"]["Record"] == "true"
    assert by_to["+14155550161"]["RecordingStatusCallback"] == callback
    assert by_to["+14155550162"]["Record"] == "false"
    assert "RecordingStatusCallback" not in by_to["+14155550162"]

    call_sid = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()[
        "provider_call_id"
    ]
    path = f"{RECORDING_PATH}?call={call_id}"
    report = {
        **recording_report(call_sid),
        "RecordingChannels": "2",
        "RecordingSource": "OutboundAPI",
    }
    assert (await post_signed(client, path, report)).status_code == 204
    # A made-up signature stores nothing.
    forged = await client.post(path, data=report, headers={"X-Twilio-Signature": "bm90IGl0"})
    assert_problem(forged, 401, "authentication-required")

    [stored] = (await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)).json()[
        "data"
    ]
    assert (stored["kind"], stored["channels"], stored["duration_seconds"]) == ("call", 2, 42)
    call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert call["recording_url"] == f"{BASE}/v1/calls/{call_id}/recording"
    audio = await client.get(f"/v1/calls/{call_id}/recording", headers=tenant.headers)
    assert audio.status_code == 200
    assert audio.content == AUDIO

    # Another organization's key cannot stream it, nor learn it exists.
    other = await make_tenant(app)
    hidden = await client.get(f"/v1/calls/{call_id}/recording", headers=other.headers)
    assert_problem(hidden, 404, "not-found")


async def left_voicemail(client: httpx.AsyncClient, tenant: Tenant, n: int) -> str:
    """An after-hours call whose voicemail Twilio reported; returns the call id."""
    with use_clock(FrozenClock(SATURDAY)):
        answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", n)))
    call_id = call_id_in(answered.text)
    path = f"{RECORDING_PATH}?call={call_id}&kind=voicemail"
    assert (await post_signed(client, path, recording_report(sid("CA", n)))).status_code == 204
    return call_id


async def test_a_callers_recordings_are_exported_and_erased_with_the_contact(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    call_id = await left_voicemail(client, tenant, 8)
    [contact] = (await client.get("/v1/contacts", headers=tenant.headers)).json()["data"]

    export = await request_export(client, tenant.headers, "contact", contact["id"])
    files, _ = await download(client, tenant.headers, export["id"])
    assert [(r["call_id"], r["url"]) for r in files["call_recordings.json"]] == [
        (call_id, RECORDING_URL)
    ]

    erasure = await request_erasure(client, tenant.headers, "contact", contact["id"])
    assert erasure["counts"]["call_recordings"] == 1
    listed = await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)
    assert listed.json()["data"] == []
    gone = await client.get(f"/v1/calls/{call_id}/recording", headers=tenant.headers)
    assert_problem(gone, 404, "not-found")


async def test_recordings_expire_after_the_retention_period(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    call_id = await left_voicemail(client, tenant, 9)
    kind = retention_kinds()["call_recordings"]
    stored_at = datetime.fromisoformat(
        (await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)).json()[
            "data"
        ][0]["created_at"]
    )

    kept = await purge_kind(app.state.db, kind, now=stored_at + timedelta(days=89))
    purged = await purge_kind(app.state.db, kind, now=stored_at + timedelta(days=91))

    assert (kept, purged) == (0, 1)
    call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert call["recording_url"] is None
    listed = await client.get(f"/v1/calls/{call_id}/recordings", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_concurrent_webhooks_for_one_call_create_one_call_and_one_hold(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await setup_org(client, tenant)
    params = incoming(sid("CA", 10))

    first, second = await asyncio.gather(
        post_signed(client, INBOUND_PATH, params), post_signed(client, INBOUND_PATH, params)
    )

    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.text == second.text
    calls = (await client.get("/v1/calls", headers=tenant.headers)).json()["data"]
    assert len(calls) == 1
    [wallet] = (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"]
    assert wallet["held"] == cost_of(60, INBOUND_RATE, "USD")  # one hour, once


async def test_an_audio_mode_number_streams_the_call_to_commbase(
    app: FastAPI, client: httpx.AsyncClient, twilio: FakeTwilio, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    number = await setup_org(client, tenant, live_audio=True)
    assert number["live_audio"] is True

    answered = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 1)))

    assert answered.status_code == 200, answered.text
    call_id = call_id_in(answered.text)
    stream = f'<Connect><Stream url="wss://api.example.test/v1/providers/twilio/stream/{call_id}">'
    assert stream in answered.text
    assert "ConversationRelay" not in answered.text
    call = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (call["direction"], call["live_audio"]) == ("inbound", True)
    # Back to text: the next call is relayed as text again.
    changed = await client.patch(
        f"/v1/phone-numbers/{number['id']}", json={"live_audio": False}, headers=tenant.headers
    )
    assert (changed.status_code, changed.json()["live_audio"]) == (200, False)
    again = await post_signed(client, INBOUND_PATH, incoming(sid("CA", 2)))
    assert "<Connect><ConversationRelay" in again.text
