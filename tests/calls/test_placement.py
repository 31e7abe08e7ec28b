"""Placing calls: the Idempotency-Key stored with the call, bad input answered 4xx
with nothing changed, limits from stored settings, the lifecycle's own records
(one call_events row per transition, waiting and response times) and the agent
session's data_retention consent."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, update

from commbase.calls import jobs as calls_jobs
from commbase.calls import placement
from commbase.calls.models import Call, CallEvent
from commbase.calls.providers import carriers_of
from commbase.calls.schemas import CallCreate
from commbase.core.effects import EffectRunner
from commbase.core.errors import NotFound, ValidationFailed
from commbase.core.idempotency import IdempotencyKey
from commbase.core.jobs import JobContext
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.accounts.models import Signup
from commbase.identity.signup.service import EmailNotVerified
from commbase.settings import Settings
from tests.calls.factories import (
    ANSWERED_94S,
    BUSY,
    LONG,
    RecordingCarrier,
    dial_queued,
    fund_wallet,
    install_carrier,
    place,
    run_clock,
)
from tests.calls.test_dialing import key_principal
from tests.core.conftest import assert_problem
from tests.identity.factories import Tenant, auth, make_tenant

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


async def wallet_of(client: httpx.AsyncClient, tenant: Tenant, wallet_id: str) -> tuple[int, int]:
    shown = (await client.get(f"/v1/wallets/{wallet_id}", headers=tenant.headers)).json()
    return int(shown["balance"]), int(shown["held"])


async def get_call(
    client: httpx.AsyncClient, headers: dict[str, str], call_id: str
) -> dict[str, Any]:
    response = await client.get(f"/v1/calls/{call_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def call_ids(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    listed = await client.get("/v1/calls", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    return [c["id"] for c in listed.json()["data"]]


# ------------------------------------------------------------------ idempotency


@pytest.mark.parametrize("lost", ["record deleted", "record stuck in progress"])
async def test_a_crash_after_the_call_committed_cannot_place_or_dial_it_twice(
    app: FastAPI, client: httpx.AsyncClient, lost: str
) -> None:
    """The call committed; the middleware's response record was then lost (the process
    died before its third transaction) or left ``in_progress`` past its 60 s lock. The
    retry answers with the same call: no second hold, no second dial."""
    carrier = install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=5000)
    headers = {**tenant.headers, "Idempotency-Key": "place-once"}
    first = await client.post("/v1/calls", json={"to": ANSWERED_94S}, headers=headers)
    assert first.status_code == 201, first.text
    await dial_queued(app)

    async with app.state.db.sessionmaker() as session:
        if lost == "record deleted":
            await session.execute(delete(IdempotencyKey))
        else:
            await session.execute(
                update(IdempotencyKey).values(
                    state="in_progress",
                    locked_at=datetime.now(UTC) - timedelta(seconds=61),
                    response_status=None,
                    response_body=None,
                )
            )
        await session.commit()

    retry = await client.post("/v1/calls", json={"to": ANSWERED_94S}, headers=headers)
    await dial_queued(app)

    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert set(retry.json()) == set(first.json())
    assert await call_ids(client, tenant) == [first.json()["id"]]
    assert await wallet_of(client, tenant, wallet["id"]) == (5000, 750)  # one hold
    assert [call_id for call_id, _ in carrier.dials] == [first.json()["id"]]  # one dial


async def test_a_lost_record_with_another_body_is_still_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    headers = {**tenant.headers, "Idempotency-Key": "k1"}
    assert (await place(client, headers, ANSWERED_94S)).status_code == 201
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()

    other = await place(client, headers, BUSY)

    assert_problem(other, 422, "idempotency-key-reused")
    assert len(await call_ids(client, tenant)) == 1


async def test_the_unique_key_stops_a_retry_that_raced_past_the_checks(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a retry miss the committed call in both of its checks, the unique key on
    the call row still refuses a second call, and its hold rolls back with it."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=5000)
    headers = {**tenant.headers, "Idempotency-Key": "race"}
    first = await place(client, headers, ANSWERED_94S)
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()

    async def missed(*args: object) -> None:
        return None

    monkeypatch.setattr(placement, "placed_with_key", missed)
    raced = await place(client, headers, ANSWERED_94S)

    assert_problem(raced, 409, "idempotency-key-in-use")
    assert raced.headers["Retry-After"] == "1"
    assert await call_ids(client, tenant) == [first.json()["id"]]
    assert await wallet_of(client, tenant, wallet["id"]) == (5000, 750)


async def test_a_retry_that_finds_the_call_after_its_hold_gives_the_hold_back(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry that passed the first check while the original was committing finds
    the call after the wallet's lock: it answers the call and keeps no hold."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=5000)
    headers = {**tenant.headers, "Idempotency-Key": "late"}
    first = await place(client, headers, ANSWERED_94S)
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    real = placement.placed_with_key
    checks: list[int] = []

    async def first_check_misses(*args: Any) -> Any:
        checks.append(1)
        return None if len(checks) == 1 else await real(*args)

    monkeypatch.setattr(placement, "placed_with_key", first_check_misses)
    retried = await place(client, headers, ANSWERED_94S)

    assert len(checks) == 2
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == first.json()["id"]
    assert await call_ids(client, tenant) == [first.json()["id"]]
    assert await wallet_of(client, tenant, wallet["id"]) == (5000, 750)


async def test_the_same_key_from_another_credential_places_its_own_call(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    other_key = await client.post("/v1/api-keys", json={"name": "ci"}, headers=tenant.headers)
    headers = [tenant.headers, auth(other_key.json()["key"])]

    placed = [await place(client, {**h, "Idempotency-Key": "same"}, ANSWERED_94S) for h in headers]

    assert [p.status_code for p in placed] == [201, 201]
    assert placed[0].json()["id"] != placed[1].json()["id"]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "body",
    [
        {"reconnections": None},
        {"mos_score": None},
        {"screenshare_used": None},
        {"codec": None, "latency_ms": 10},
    ],
)
async def test_explicit_nulls_in_a_quality_report_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    path = f"/v1/calls/{call_id}/quality"
    good = await client.post(path, json={"mos_score": 4.4, "codec": "OPUS"}, headers=tenant.headers)
    assert good.status_code == 200
    before = await get_call(client, tenant.headers, call_id)

    refused = await client.post(path, json=body, headers=tenant.headers)

    problem = assert_problem(refused, 422, "validation-failed")
    assert next(iter(body)) in str(problem["errors"])
    assert await get_call(client, tenant.headers, call_id) == before


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/reports/call-quality"])
async def test_datetimes_without_an_offset_are_refused(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    tenant = await make_tenant(app)

    naive = await client.get(path, params={"from": "2026-11-27T00:00:00"}, headers=tenant.headers)
    edge = await client.get(
        path, params={"to": "9999-12-31T23:59:59-05:00"}, headers=tenant.headers
    )
    aware = await client.get(
        path, params={"from": "2026-11-27T00:00:00+01:00"}, headers=tenant.headers
    )

    problem = assert_problem(naive, 422, "validation-failed")
    assert "from" in str(problem["errors"])
    assert_problem(edge, 422, "validation-failed")
    assert aware.status_code == 200, aware.text


async def test_list_filters_take_aware_datetimes(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    async def listed(**params: str) -> list[str]:
        response = await client.get("/v1/calls", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    # 10:00 UTC is 11:00 in Prague.
    assert await listed(**{"from": "2026-11-20T11:00:00+01:00"}) == [call_id]
    assert await listed(**{"from": "2026-11-20T11:00:01+01:00"}) == []


async def test_actions_are_listed_in_a_data_envelope(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, LONG)).json()["id"]
    await run_clock(app, clock, 6)
    path = f"/v1/calls/{call_id}/actions"
    await client.post(path, json={"action": "mute"}, headers=tenant.headers)

    listed = await client.get(path, headers=tenant.headers)

    assert listed.status_code == 200
    [action] = listed.json()["data"]
    assert action["action"] == "mute"
    assert set(listed.json()) == {"data"}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "/actions", {"action": "explode"}),
        ("POST", "/actions", {"action": "transfer", "parameters": {"to": "nope"}}),
        ("POST", "/actions", {"action": "hangup", "parameters": None}),
        ("POST", "/review", {"rating": None}),
        ("POST", "/review", {"rating": 6}),
        ("PATCH", "/analysis", {"lead_score": 101}),
        ("PATCH", "/analysis", {"costs": {"tts": 2**70}}),
        ("PATCH", "/analysis", {"costs": {"tts": 2**62}}),
        ("PATCH", "/analysis", {"costs": {"tts": -1}}),
        ("POST", "/quality", {"packet_loss": 2}),
        ("POST", "/quality", {"video_resolution": "big"}),
    ],
)
async def test_other_bad_bodies_answer_422_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, method: str, suffix: str, body: dict[str, Any]
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    before = await get_call(client, tenant.headers, call_id)

    response = await client.request(
        method, f"/v1/calls/{call_id}{suffix}", json=body, headers=tenant.headers
    )

    assert_problem(response, 422, "validation-failed")
    assert await get_call(client, tenant.headers, call_id) == before


@pytest.mark.parametrize(
    "body",
    [
        {"to": "+1415555123"},
        {"to": ANSWERED_94S, "from": "12"},
        {"to": ANSWERED_94S, "kind": "hologram"},
        {"to": ANSWERED_94S, "max_duration_s": 10},
        {"to": ANSWERED_94S, "metadata": None},
        {"to": ANSWERED_94S, "metadata": {"tags": ["x" * 41]}},
        {"to": None},
    ],
)
async def test_bad_placements_answer_422_and_hold_nothing(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)

    response = await client.post("/v1/calls", json=body, headers=tenant.headers)

    assert_problem(response, 422, "validation-failed")
    assert await call_ids(client, tenant) == []
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)


async def test_the_placed_call_answers_as_it_was_stored(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The call is stored with a Core INSERT (``calls.storing``): the defaults it was
    given (id, times, counters, empty documents) are the ones the answer shows."""
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)

    placed = await place(
        client, tenant.headers, ANSWERED_94S, caller_id_name=None, metadata={"purpose": "demo"}
    )

    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert await get_call(client, tenant.headers, body["id"]) == body
    assert (body["status"], body["reconnections"], body["cost_breakdown"]) == ("queued", 0, {})
    assert (body["metadata"], body["tags"], body["analysis"]) == ({"purpose": "demo"}, [], {})
    assert body["created_at"] == body["updated_at"] == "2026-11-20T10:00:00Z"


async def unverify(app: FastAPI, tenant: Tenant) -> None:
    """Make ``tenant`` an organization opened by sign-up whose email is not verified."""
    async with app.state.db.sessionmaker() as session:
        session.add(Signup(org_id=tenant.org_id, user_id=tenant.owner_id))
        await session.commit()


async def test_a_bad_number_is_answered_before_the_accounts_state(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    await unverify(app, tenant)

    # The request's own mistake first, whoever sends it ...
    for body in ({"to": "+1415555123"}, {"to": ANSWERED_94S, "from": "+1415555123"}):
        refused = await client.post("/v1/calls", json=body, headers=tenant.headers)
        problem = assert_problem(refused, 422, "validation-failed")
        assert "not a valid phone number" in str(problem["detail"])

    # ... then what the organization may do.
    refused = await client.post("/v1/calls", json={"to": ANSWERED_94S}, headers=tenant.headers)
    problem = assert_problem(refused, 403, "permission-denied")
    assert str(problem["detail"]).startswith("Verify your email first")
    assert await call_ids(client, tenant) == []
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)


async def test_an_unverified_organization_is_told_so_before_a_missing_member(
    app: FastAPI, settings: Settings
) -> None:
    """A credential still cached for a user who has left: the organization's state is
    what the caller can act on first; an invalid number comes before both."""
    tenant = await make_tenant(app)
    await unverify(app, tenant)
    principal = dataclasses.replace(key_principal(tenant), user_id="usr_gone")

    async def place_to(number: str) -> None:
        async with app.state.db.sessionmaker() as session:
            await placement.place_call(
                session,
                principal=principal,
                data=CallCreate(to=number),
                carriers=carriers_of(app.state.job_services),
                settings=settings,
            )

    with pytest.raises(ValidationFailed):
        await place_to("+1415555123")
    with pytest.raises(EmailNotVerified):
        await place_to(ANSWERED_94S)
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(Signup).values(verified_at=T0))
        await session.commit()
    with pytest.raises(NotFound, match="User not found"):
        await place_to(ANSWERED_94S)


# ------------------------------------------------------------------ the lifecycle's records


async def test_each_transition_is_recorded_once_and_times_come_from_the_lifecycle(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    clock.advance(2)  # dialed 2 s after it was placed

    await run_clock(app, clock, 120, step=0.5)  # 240 simulator passes

    done = await get_call(client, tenant.headers, call_id)
    assert done["status"] == "completed"
    # Placed at T0, dialed at T0+2, rings at +1 and is answered at +5 after the dial.
    assert done["waiting_time_seconds"] == 7
    assert done["response_time_seconds"] == 4
    async with app.state.db.sessionmaker() as session:
        rows = (
            await session.execute(
                select(CallEvent.status, CallEvent.applied, CallEvent.source)
                .where(CallEvent.call_id == call_id)
                .order_by(CallEvent.id)
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        ("initiated", True, "simulator"),
        ("ringing", True, "simulator"),
        ("in-progress", True, "simulator"),
        ("completed", True, "simulator"),
    ]


async def test_unanswered_calls_have_no_waiting_or_response_time(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, BUSY)).json()["id"]

    await run_clock(app, clock, 10)

    done = await get_call(client, tenant.headers, call_id)
    assert done["status"] == "busy"
    assert (done["waiting_time_seconds"], done["response_time_seconds"]) == (None, None)


# ------------------------------------------------------------------ stored settings


async def test_the_users_ai_settings_cap_the_call_duration(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    updated = await client.patch(
        f"/v1/users/{tenant.owner_id}",
        json={"ai_settings": {"max_call_duration": 150}},
        headers=tenant.headers,
    )
    assert updated.status_code == 200, updated.text

    call = (await place(client, tenant.headers, LONG, max_duration_s=600)).json()
    assert call["max_duration_seconds"] == 150
    await run_clock(app, clock, 200, step=10)

    done = await get_call(client, tenant.headers, call["id"])
    assert (done["status"], done["duration_seconds"], done["end_reason"]) == (
        "completed",
        150,
        "timeout",
    )


async def test_the_shortest_of_every_duration_limit_applies(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    await client.patch(
        f"/v1/users/{tenant.owner_id}",
        json={"ai_settings": {"max_call_duration": 900}, "limits": {"max_call_duration": 600}},
        headers=tenant.headers,
    )
    assert (await place(client, tenant.headers, LONG)).json()["max_duration_seconds"] == 600
    short = await place(client, tenant.headers, LONG, max_duration_s=120)
    assert short.json()["max_duration_seconds"] == 120


# ------------------------------------------------------------------ data retention


async def open_agent_session(
    client: httpx.AsyncClient, tenant: Tenant, *, retention: str, expires_in_s: int = 3600
) -> tuple[str, dict[str, str]]:
    created = await client.post(
        "/v1/agent-sessions",
        json={
            "agent_context": {"agent_id": "support-bot"},
            "user_consent": {"calling_authorized": True, "data_retention": retention},
            "expires_in_s": expires_in_s,
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], auth(created.json()["session_token"])


async def run_retention(app: FastAPI, now: datetime, *, org_id: str | None = None) -> None:
    """What runs in the background: the session-ended effect and the retention job
    (for every organization, or the one a tenant runs it for)."""
    await EffectRunner(app.state.db, services=app.state.job_services).run_once(
        only=["calls.session_ended"]
    )
    await calls_jobs.expire_personal_data(
        JobContext(database=app.state.db, now=now, run_id="test", services={}, org_id=org_id)
    )


async def transcript_status(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> int:
    response = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    return response.status_code


async def erased_state(app: FastAPI, call_id: str) -> tuple[str | None, bool, int]:
    async with app.state.db.sessionmaker() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        events = await session.scalar(
            select(func.count()).select_from(CallEvent).where(CallEvent.call_id == call_id)
        )
        return call.to_number, call.erased_at is not None, int(events or 0)


async def test_session_only_calls_lose_their_personal_data_when_the_session_ends(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    session_id, agent = await open_agent_session(client, tenant, retention="session_only")
    ended = (await place(client, agent, ANSWERED_94S)).json()
    assert ended["data_retention"] == "session_only"
    await run_clock(app, clock, 110, step=5)
    transcript = await client.put(
        f"/v1/calls/{ended['id']}/transcript",
        json={"segments": [{"speaker": "caller", "text": "Hi", "start": 0, "end": 1}]},
        headers=tenant.headers,
    )
    assert transcript.status_code == 200, transcript.text
    running = (await place(client, agent, LONG)).json()
    await run_clock(app, clock, 10)
    other = (await place(client, tenant.headers, BUSY)).json()
    await run_clock(app, clock, 10)
    await run_retention(app, clock.now())
    assert await erased_state(app, ended["id"]) == (ANSWERED_94S, False, 4)

    terminated = await client.post(
        f"/v1/agent-sessions/{session_id}/terminate", headers=tenant.headers
    )
    assert terminated.status_code == 200, terminated.text
    await run_retention(app, clock.now())

    assert await erased_state(app, ended["id"]) == (None, True, 0)
    assert await transcript_status(client, tenant, ended["id"]) == 404
    kept = await get_call(client, tenant.headers, ended["id"])
    assert (kept["status"], kept["cost_amount"]) == ("completed", 25)  # billing stays
    # The call still in progress keeps its data until it ends; other calls keep theirs.
    assert (await erased_state(app, running["id"]))[1] is False
    await run_clock(app, clock, 3600, step=600)
    await run_retention(app, clock.now())
    assert (await erased_state(app, running["id"]))[:2] == (None, True)
    assert (await erased_state(app, other["id"]))[:2] == (BUSY, False)


async def test_session_only_calls_are_erased_once_the_session_expires(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    _, agent = await open_agent_session(client, tenant, retention="session_only", expires_in_s=600)
    call = (await place(client, agent, ANSWERED_94S)).json()
    await run_clock(app, clock, 110, step=5)

    await run_retention(app, T0 + timedelta(seconds=599))
    assert (await erased_state(app, call["id"]))[1] is False
    await run_retention(app, T0 + timedelta(seconds=600))
    assert (await erased_state(app, call["id"]))[:2] == (None, True)


async def test_thirty_days_consent_erases_personal_data_thirty_days_after_the_call(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    _, agent = await open_agent_session(client, tenant, retention="30_days")
    placed = (await place(client, agent, ANSWERED_94S)).json()
    assert placed["personal_data_expires_at"] is None  # set when the call ends
    await run_clock(app, clock, 110, step=5)
    done = await get_call(client, tenant.headers, placed["id"])
    ended_at = datetime.fromisoformat(done["ended_at"])
    assert datetime.fromisoformat(done["personal_data_expires_at"]) == ended_at + timedelta(days=30)

    await run_retention(app, ended_at + timedelta(days=30) - timedelta(seconds=1))
    assert (await erased_state(app, placed["id"]))[1] is False
    other = await make_tenant(app)
    await run_retention(app, ended_at + timedelta(days=30), org_id=other.org_id)
    assert (await erased_state(app, placed["id"]))[1] is False  # another tenant's run
    await run_retention(app, ended_at + timedelta(days=30), org_id=tenant.org_id)
    assert (await erased_state(app, placed["id"]))[:2] == (None, True)


async def test_permanent_consent_sets_no_expiry(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    session_id, agent = await open_agent_session(client, tenant, retention="permanent")
    call = (await place(client, agent, ANSWERED_94S)).json()
    await run_clock(app, clock, 110, step=5)
    await client.post(f"/v1/agent-sessions/{session_id}/terminate", headers=tenant.headers)

    await run_retention(app, clock.now() + timedelta(days=400))

    done = await get_call(client, tenant.headers, call["id"])
    assert (done["data_retention"], done["personal_data_expires_at"]) == ("permanent", None)
    assert (await erased_state(app, call["id"]))[:2] == (ANSWERED_94S, False)


# ------------------------------------------------------------------ currencies


async def test_a_wallet_in_another_currency_needs_a_rate_in_its_own(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The default rate is priced in COMMBASE_DEFAULT_RATE_CURRENCY (USD): a yen wallet is
    never billed 0.125 yen a minute. With a rate in yen, the call is priced in yen."""
    install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=10_000, currency="JPY")
    refused = await place(client, tenant.headers, "+14155550142")
    body = assert_problem(refused, 409, "conflict")
    assert "JPY" in str(body["detail"])
    assert await call_ids(client, tenant) == []
    assert await wallet_of(client, tenant, wallet["id"]) == (10_000, 0)

    rate = await client.put(
        "/v1/rates", json={"per_minute": "12", "currency": "JPY"}, headers=tenant.headers
    )
    assert rate.status_code == 200, rate.text
    placed = await place(client, tenant.headers, "+14155550142")
    assert placed.status_code == 201, placed.text
    call = placed.json()
    assert (call["currency"], call["rate_per_minute"]) == ("JPY", "12")
    await run_clock(app, clock, 200)
    ended = await get_call(client, tenant.headers, call["id"])
    # 60 + 42 s of talk: two started minutes at 12 yen.
    assert (ended["status"], ended["billable_minutes"], ended["cost_amount"]) == (
        "completed",
        2,
        24,
    )
    assert await wallet_of(client, tenant, wallet["id"]) == (10_000 - 24, 0)
