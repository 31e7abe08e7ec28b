"""Twilio status callbacks: signed with Twilio's own RequestValidator, verified against
the public URL, applied once and only forward, whatever order they arrive in.

Calls are placed through the API (so the wallet hold is real) with
``COMMBASE_CALL_PROVIDER=twilio`` and dialed by the dial effect through a recording
carrier standing in for Twilio's REST API: provider ``twilio``, a ``CA`` call SID and
no simulator script, so only the callbacks below move them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]

from commbase.app import create_app
from commbase.calls.models import Call
from commbase.calls.providers.twilio import STATUS_PATH
from commbase.core.money import cost_of
from commbase.core.time import FrozenClock, use_clock
from commbase.settings import Settings
from tests.calls.factories import (
    RecordingCarrier,
    dial_queued,
    fund_wallet,
    install_carrier,
    outbox_payloads,
    outbox_types,
    place,
)
from tests.conftest import make_settings
from tests.core.conftest import assert_problem
from tests.identity.factories import Tenant, auth, create_key, make_tenant

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
PUBLIC_BASE_URL = "https://api.example.test"
STATUS_URL = PUBLIC_BASE_URL + STATUS_PATH
CALLER = "+14155550100"
CALLEE = "+14155551234"

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # when calls are placed (frozen clock)
TALK_S = 125  # Twilio's CallDuration on completion: 3 billable minutes
# When Twilio says each step happened, and the order it numbers its callbacks in.
AT = {
    "initiated": T0 + timedelta(seconds=1),
    "ringing": T0 + timedelta(seconds=2),
    "in-progress": T0 + timedelta(seconds=7),
    "completed": T0 + timedelta(seconds=7 + TALK_S),
}
SEQUENCE = {"initiated": 0, "ringing": 1, "in-progress": 2, "completed": 3}
RATE = Decimal("0.125")  # the default rate for a US number
COST = cost_of(3, RATE, "USD")
HOLD = 750  # 60 minutes (max_call_duration_s) at 12.5 cents
FUNDS = 10_000  # $100: enough for every example of the property test


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    """The app of this module dials Twilio (a recording stand-in) and knows its account."""
    return make_settings(
        database_url,
        redis_url,
        call_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE_URL,
    )


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


@pytest.fixture
async def funded(app: FastAPI, client: httpx.AsyncClient) -> tuple[Tenant, str]:
    """A tenant with a funded organization wallet; returns it and the wallet id."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=FUNDS)
    return tenant, str(wallet["id"])


def twilio_stand_in(app: FastAPI) -> RecordingCarrier:
    """The recording carrier that answers for Twilio in this app (installed once)."""
    carrier = getattr(app.state, "twilio_stand_in", None)
    if carrier is None:
        carrier = install_carrier(app, RecordingCarrier(name="twilio", repeatable_dial=False))
        app.state.twilio_stand_in = carrier
    assert isinstance(carrier, RecordingCarrier)
    return carrier


async def place_twilio_call(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> tuple[str, str]:
    """Place a call (holding its money) and dial it at Twilio; returns (call id, CallSid)."""
    carrier = twilio_stand_in(app)
    placed = await place(client, tenant.headers, CALLEE, **{"from": CALLER})
    assert placed.status_code == 201, placed.text
    call_id = str(placed.json()["id"])
    assert await dial_queued(app) == 1
    assert [dialed for dialed, _ in carrier.dials].count(call_id) == 1
    async with app.state.db.sessionmaker() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        assert (call.provider, call.status) == ("twilio", "queued")
        assert call.provider_call_id is not None
        assert call.provider_call_id.startswith("CA")
        return call_id, call.provider_call_id


def report(call_sid: str, status: str, **overrides: str) -> dict[str, str]:
    """The form Twilio posts for one status callback."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "Called": CALLEE,
        "Caller": CALLER,
        "Direction": "outbound-api",
        "From": CALLER,
        "To": CALLEE,
        "Timestamp": format_datetime(AT.get(status, AT["completed"])),
        "SequenceNumber": str(SEQUENCE.get(status, 3)),
    }
    if status == "completed":
        params["CallDuration"] = str(TALK_S)
    elif status in ("busy", "no-answer", "failed", "canceled"):
        params["CallDuration"] = "0"
    params.update(overrides)
    return params


def sign(params: dict[str, str], *, url: str = STATUS_URL, token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


async def post_callback(
    client: httpx.AsyncClient, params: dict[str, str], signature: str | None
) -> httpx.Response:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return await client.post(STATUS_PATH, data=params, headers=headers)


async def deliver(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    """Post a callback exactly as Twilio would sign it; it must be acknowledged."""
    response = await post_callback(client, params, sign(params))
    assert response.status_code == 204, response.text
    assert response.content == b""


async def get_call(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def balance(client: httpx.AsyncClient, tenant: Tenant, wallet_id: str) -> tuple[int, int]:
    wallet = (await client.get(f"/v1/wallets/{wallet_id}", headers=tenant.headers)).json()
    return int(wallet["balance"]), int(wallet["held"])


async def charges(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/transactions?call_id={call_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["data"]
    return entries


def moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def timeline(call: dict[str, Any]) -> dict[str, datetime | None]:
    return {
        "initiated": moment(call["initiated_at"]),
        "ringing": moment(call["ringing_at"]),
        "in-progress": moment(call["answered_at"]),
        "completed": moment(call["ended_at"]),
    }


def money(call: dict[str, Any]) -> tuple[Any, ...]:
    return (
        call["status"],
        call["duration_seconds"],
        call["billable_minutes"],
        call["cost_amount"],
    )


# ------------------------------------------------------------------ accepted


async def test_signed_callbacks_walk_the_call_to_one_charge(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, wallet_id = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)
    assert await balance(client, tenant, wallet_id) == (FUNDS, HOLD)

    for status in ("initiated", "ringing", "in-progress"):
        await deliver(client, report(call_sid, status))
        shown = await get_call(client, tenant, call_id)
        assert shown["status"] == status
        assert timeline(shown)[status] == AT[status]
    assert shown["cost_amount"] is None
    assert await balance(client, tenant, wallet_id) == (FUNDS, HOLD)
    assert await charges(client, tenant, call_id) == []

    await deliver(client, report(call_sid, "completed"))

    done = await get_call(client, tenant, call_id)
    assert money(done) == ("completed", TALK_S, 3, COST)
    assert COST == 38  # 3 min x 12.5 cents, rounded half up
    assert done["end_reason"] == "normal"
    assert timeline(done) == AT
    assert (done["waiting_time_seconds"], done["response_time_seconds"]) == (7, 5)
    assert (done["provider"], done["provider_call_id"]) == ("twilio", call_sid)
    [charge] = await charges(client, tenant, call_id)
    assert (charge["type"], charge["category"], charge["amount"]) == ("debit", "call_charge", COST)
    assert (charge["balance_before"], charge["balance_after"]) == (FUNDS, FUNDS - COST)
    assert done["ledger_entry_id"] == charge["id"]
    assert await balance(client, tenant, wallet_id) == (FUNDS - COST, 0)
    types = await outbox_types(app, tenant)
    assert [t for t in types if t.startswith("call.")] == [
        "call.queued",
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.completed",
    ]
    assert types.count("wallet.debited") == 1


# ------------------------------------------------------------------- refused


def _missing(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return params, None


def _garbage(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return params, "not-a-signature"


def _flipped_character(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    signature = sign(params)
    return params, ("A" if signature[0] != "A" else "B") + signature[1:]


def _other_token(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return params, sign(params, token="another-accounts-auth-token")


def _other_host(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return params, sign(params, url="https://attacker.example.test" + STATUS_PATH)


def _internal_url(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    # The URL the request reached inside the proxy is not the one Twilio was given.
    return params, sign(params, url="http://commbase.test" + STATUS_PATH)


def _plain_http(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return params, sign(params, url=STATUS_URL.replace("https://", "http://"))


def _duration_raised(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return {**params, "CallDuration": "3599"}, sign(params)


def _status_changed(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    signed = {**params, "CallStatus": "ringing"}
    signed.pop("CallDuration")
    return params, sign(signed)


def _parameter_added(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    signed = {key: value for key, value in params.items() if key != "CallDuration"}
    return params, sign(signed)


def _sid_swapped(params: dict[str, str]) -> tuple[dict[str, str], str | None]:
    return params, sign({**params, "CallSid": "CA" + "f" * 32})


@pytest.mark.parametrize(
    "forge",
    [
        _missing,
        _garbage,
        _flipped_character,
        _other_token,
        _other_host,
        _internal_url,
        _plain_http,
        _duration_raised,
        _status_changed,
        _parameter_added,
        _sid_swapped,
    ],
)
async def test_unverified_callbacks_are_refused_and_change_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    funded: tuple[Tenant, str],
    forge: Any,
) -> None:
    tenant, wallet_id = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)
    for status in ("initiated", "ringing", "in-progress"):
        await deliver(client, report(call_sid, status))
    before = await get_call(client, tenant, call_id)

    params, signature = forge(report(call_sid, "completed"))
    refused = await post_callback(client, params, signature)

    body = assert_problem(refused, 401, "authentication-required")
    assert "X-Twilio-Signature" in str(body["detail"])
    assert await get_call(client, tenant, call_id) == before
    assert before["status"] == "in-progress"
    assert await charges(client, tenant, call_id) == []
    assert await balance(client, tenant, wallet_id) == (FUNDS, HOLD)

    # The genuine report still goes through: only the signature was wrong.
    await deliver(client, report(call_sid, "completed"))
    assert money(await get_call(client, tenant, call_id)) == ("completed", TALK_S, 3, COST)


async def test_callbacks_are_refused_while_twilio_is_not_configured(
    database_url: str, redis_url: str | None
) -> None:
    application = create_app(make_settings(database_url, redis_url))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://commbase.test") as http:
            params = report("CA" + "0" * 32, "completed")
            response = await post_callback(http, params, sign(params))
            unsigned = await post_callback(http, params, None)
    assert_problem(response, 503, "service-unavailable")
    # Unsigned, it gets the refusal it would get with Twilio configured.
    assert_problem(unsigned, 401, "authentication-required")


# -------------------------------------------------------- acknowledged, ignored


async def test_callbacks_for_unknown_calls_or_without_status_are_acknowledged_and_ignored(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, wallet_id = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)
    # A test-mode key's call goes to the simulator, even with Twilio configured.
    test_key = auth(str((await create_key(client, tenant.api_key, environment="test"))["key"]))
    simulated = (await place(client, test_key, "+14155551299")).json()
    await dial_queued(app)
    simulated = await get_call(client, tenant, simulated["id"])
    assert (simulated["provider"], simulated["livemode"]) == ("simulator", False)
    assert simulated["provider_call_id"].startswith("sim_")
    before = await get_call(client, tenant, call_id)
    assert before["status"] == "queued"

    ignored = [
        report("CA" + secrets.token_hex(16), "completed"),  # a call we never placed
        report(simulated["provider_call_id"], "completed"),  # not a Twilio call
        {key: value for key, value in report(call_sid, "ringing").items() if key != "CallStatus"},
        report(call_sid, "answered"),  # not a call status Twilio reports
        report(call_sid, ""),
    ]
    for params in ignored:
        await deliver(client, params)

    assert await get_call(client, tenant, call_id) == before
    assert (await get_call(client, tenant, simulated["id"]))["status"] == "queued"
    assert await charges(client, tenant, call_id) == []
    assert await balance(client, tenant, wallet_id) == (FUNDS, 2 * HOLD)
    calls_events = [t for t in await outbox_types(app, tenant) if t.startswith("call.")]
    assert calls_events == ["call.queued", "call.queued"]


async def test_a_timestamp_that_does_not_parse_falls_back_to_the_arrival_time(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, _ = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)
    clock.advance(3)

    await deliver(client, report(call_sid, "ringing", Timestamp="yesterday-ish"))

    shown = await get_call(client, tenant, call_id)
    assert shown["status"] == "ringing"
    assert moment(shown["ringing_at"]) == T0 + timedelta(seconds=3)


# ------------------------------------------------------ late, twice, reordered


async def test_late_reports_fill_the_timeline_but_never_move_the_call_back(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, _ = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)

    await deliver(client, report(call_sid, "in-progress"))
    await deliver(client, report(call_sid, "ringing"))
    await deliver(client, report(call_sid, "initiated"))
    await deliver(
        client, report(call_sid, "ringing", Timestamp=format_datetime(T0 + timedelta(seconds=5)))
    )

    shown = await get_call(client, tenant, call_id)
    assert shown["status"] == "in-progress"
    assert timeline(shown) == {**AT, "completed": None}  # the first ringing report's time stays
    types = [t for t in await outbox_types(app, tenant) if t.startswith("call.")]
    assert types == ["call.queued", "call.answered"]


async def test_completion_first_then_stragglers_and_repeats_charge_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, wallet_id = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)

    await deliver(client, report(call_sid, "completed"))
    first = await get_call(client, tenant, call_id)
    assert money(first) == ("completed", TALK_S, 3, COST)
    assert timeline(first) == {
        "initiated": None,
        "ringing": None,
        "in-progress": None,
        "completed": AT["completed"],
    }

    for status in ("ringing", "completed", "in-progress", "initiated", "ringing", "completed"):
        await deliver(client, report(call_sid, status))
    # A repeat with other figures is a repeat all the same.
    await deliver(client, report(call_sid, "completed", CallDuration="3000", SequenceNumber="4"))

    done = await get_call(client, tenant, call_id)
    assert money(done) == ("completed", TALK_S, 3, COST)
    assert timeline(done) == AT
    assert done["waiting_time_seconds"] == 7
    [charge] = await charges(client, tenant, call_id)
    assert charge["amount"] == COST
    assert done["ledger_entry_id"] == charge["id"]
    assert await balance(client, tenant, wallet_id) == (FUNDS - COST, 0)
    types = await outbox_types(app, tenant)
    assert [t for t in types if t.startswith("call.")] == ["call.queued", "call.completed"]
    assert types.count("wallet.debited") == 1


async def test_simultaneous_duplicate_completions_charge_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, wallet_id = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)
    await deliver(client, report(call_sid, "in-progress"))

    params = report(call_sid, "completed")
    responses = await asyncio.gather(
        *(post_callback(client, params, sign(params)) for _ in range(4))
    )

    assert [r.status_code for r in responses] == [204] * 4
    assert money(await get_call(client, tenant, call_id)) == ("completed", TALK_S, 3, COST)
    assert len(await charges(client, tenant, call_id)) == 1
    assert await balance(client, tenant, wallet_id) == (FUNDS - COST, 0)


@pytest.mark.parametrize(
    ("outcome", "end_reason"),
    [("busy", "busy"), ("no-answer", "no_answer"), ("failed", "failed"), ("canceled", "canceled")],
)
async def test_an_unanswered_call_releases_its_hold_and_costs_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    funded: tuple[Tenant, str],
    outcome: str,
    end_reason: str,
) -> None:
    tenant, wallet_id = funded
    call_id, call_sid = await place_twilio_call(app, client, tenant)
    assert await balance(client, tenant, wallet_id) == (FUNDS, HOLD)

    for status in ("initiated", "ringing", outcome):
        await deliver(client, report(call_sid, status))
    # Stragglers and repeats after the end change nothing.
    for status in (outcome, "in-progress", "completed"):
        await deliver(client, report(call_sid, status))

    done = await get_call(client, tenant, call_id)
    assert money(done) == (outcome, 0, 0, 0)
    assert done["end_reason"] == end_reason
    assert done["ledger_entry_id"] is None
    assert await charges(client, tenant, call_id) == []
    assert await balance(client, tenant, wallet_id) == (FUNDS, 0)
    assert "wallet.debited" not in await outbox_types(app, tenant)


# ------------------------------------------------------------------ property

REPORTS = ("initiated", "ringing", "in-progress", "completed")


@st.composite
def deliveries(draw: st.DrawFn) -> list[str]:
    """Each report at least once, some up to three times, in any order."""
    copies = [status for status in REPORTS for _ in range(draw(st.integers(1, 3)))]
    return draw(st.permutations(copies))


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=deliveries())
async def test_any_order_and_repeats_of_callbacks_end_in_one_state_and_one_charge(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    funded: tuple[Tenant, str],
    order: list[str],
) -> None:
    tenant, wallet_id = funded
    balance_before, held_before = await balance(client, tenant, wallet_id)
    call_id, call_sid = await place_twilio_call(app, client, tenant)

    for status in order:
        await deliver(client, report(call_sid, status))

    done = await get_call(client, tenant, call_id)
    assert money(done) == ("completed", TALK_S, 3, COST)
    assert done["end_reason"] == "normal"
    assert timeline(done) == AT
    assert done["waiting_time_seconds"] == 7
    [charge] = await charges(client, tenant, call_id)
    assert (charge["category"], charge["amount"]) == ("call_charge", COST)
    assert done["ledger_entry_id"] == charge["id"]
    assert await balance(client, tenant, wallet_id) == (balance_before - COST, held_before)
    completed = await outbox_payloads(app, tenant, "call.completed")
    assert [p["id"] for p in completed].count(call_id) == 1
    debited = await outbox_payloads(app, tenant, "wallet.debited")
    assert [p["related_call_id"] for p in debited].count(call_id) == 1
