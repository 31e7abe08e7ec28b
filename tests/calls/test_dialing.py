"""Dialing after commit: the carrier hears of a call only once its row and hold are
committed, exactly once, and a dial that fails leaves no money held."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.calls import dialing, placement
from commbase.calls.models import Call
from commbase.calls.providers import DialNotSent, ProviderError, carriers_of
from commbase.calls.schemas import CallCreate
from commbase.core.auth import KeyGrant, Principal, PrincipalKind
from commbase.core.errors import RateLimited
from commbase.core.outbox import OutboxEvent
from commbase.core.ratelimit import RateLimitRule
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role, scopes_for
from commbase.settings import Settings
from tests.calls.factories import (
    ANSWERED_94S,
    RecordingCarrier,
    dial_queued,
    fund_wallet,
    install_carrier,
    place,
    run_clock,
)
from tests.conftest import make_settings
from tests.core.conftest import running_app
from tests.identity.factories import Tenant, make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


def key_principal(tenant: Tenant) -> Principal:
    """The tenant's owner key, as the API resolves it."""
    return Principal(
        kind=PrincipalKind.API_KEY,
        org_id=tenant.org_id,
        credential_id=tenant.api_key_id,
        scopes=scopes_for(Role.OWNER),
        rate_limit=RateLimitRule("test", 1000, 60),
        user_id=tenant.owner_id,
        role=Role.OWNER,
        key=KeyGrant(environment="live", max_concurrent_calls=10),
    )


async def wallet_of(client: httpx.AsyncClient, tenant: Tenant, wallet_id: str) -> tuple[int, int]:
    shown = (await client.get(f"/v1/wallets/{wallet_id}", headers=tenant.headers)).json()
    return int(shown["balance"]), int(shown["held"])


async def get_call(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> dict[str, object]:
    response = await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_refused_placement_dials_nothing_and_a_committed_one_dials_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    carrier = install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    data = CallCreate(to=ANSWERED_94S)

    # Refused once its call was written (the key allows no call in progress): on
    # PostgreSQL its one statement undoes itself, elsewhere the transaction rolls back.
    full = replace(key_principal(tenant), key=KeyGrant(environment="live", max_concurrent_calls=0))
    async with app.state.db.sessionmaker() as session:
        with pytest.raises(RateLimited):
            await placement.place_call(
                session,
                principal=full,
                data=data,
                carriers=carriers_of(app.state.job_services),
                settings=settings,
            )
        await session.rollback()
    assert await dial_queued(app) == 0
    assert carrier.dials == []
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)
    assert (await client.get("/v1/calls", headers=tenant.headers)).json()["data"] == []

    # The same placement committed: dialed once, after the commit, with its event as
    # the idempotency reference.
    async with app.state.db.sessionmaker() as session:
        placed = await placement.place_call(
            session,
            principal=key_principal(tenant),
            data=data,
            carriers=carriers_of(app.state.job_services),
            settings=settings,
        )
        call_id = placed.call.id
        assert carrier.dials == []  # nothing dialed inside the transaction
        await session.commit()
    assert carrier.dials == []
    assert await dial_queued(app) == 1
    assert await dial_queued(app) == 0
    async with app.state.db.sessionmaker() as session:
        event_id = await session.scalar(
            select(OutboxEvent.id).where(
                OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "call.queued"
            )
        )
    assert carrier.dials == [(call_id, event_id)]
    shown = await get_call(client, tenant, call_id)
    assert shown["provider_call_id"] == "sim_" + str(event_id).partition("_")[2]
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 750)


async def test_the_api_answers_with_the_queued_call_and_the_dial_follows(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    carrier = install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)

    placed = await place(client, tenant.headers, ANSWERED_94S)

    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert (body["status"], body["provider_call_id"], body["livemode"]) == ("queued", None, True)
    assert carrier.dials == []
    await run_clock(app, clock, 110, step=5)
    assert [call_id for call_id, _ in carrier.dials] == [body["id"]]
    done = await get_call(client, tenant, body["id"])
    assert (done["status"], done["cost_amount"]) == ("completed", 25)


async def test_two_workers_never_dial_one_call_twice(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    carrier = install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    ids = [(await place(client, tenant.headers, ANSWERED_94S)).json()["id"] for _ in range(3)]

    handled = await asyncio.gather(*(dial_queued(app, worker_id=f"w{n}") for n in range(3)))

    assert sum(handled) == 3
    assert sorted(call_id for call_id, _ in carrier.dials) == sorted(ids)


async def test_a_refused_dial_fails_the_call_and_releases_its_hold(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    carrier = install_carrier(app, RecordingCarrier(fail_with=ProviderError("invalid number")))
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 750)

    await dial_queued(app)

    failed = await get_call(client, tenant, call_id)
    assert (failed["status"], failed["end_reason"], failed["cost_amount"]) == (
        "failed",
        "failed",
        0,
    )
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)
    assert len(carrier.dials) == 1
    assert await dial_queued(app) == 0  # a refusal is not retried
    assert len(carrier.dials) == 1


async def test_a_provider_that_cannot_be_used_fails_the_call_unstamped(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    carrier = install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    def unusable(name: str) -> None:
        raise ProviderError(f"{name} is not configured")

    monkeypatch.setattr(carriers_of(app.state.job_services), "get", unusable)
    await dial_queued(app)

    failed = await get_call(client, tenant, call_id)
    assert (failed["status"], failed["end_reason"]) == ("failed", "failed")
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)
    assert carrier.dials == []
    async with app.state.db.sessionmaker() as session:
        stamp = (
            await session.execute(
                select(Call.dial_attempted_at, Call.dial_reference).where(Call.id == call_id)
            )
        ).one()
    assert tuple(stamp) == (None, None)  # the attempt's stamp did not stay


async def test_a_carrier_never_reached_is_dialed_again_once_it_answers(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    carrier = install_carrier(
        app, RecordingCarrier(repeatable_dial=False, fail_with=DialNotSent("no route"))
    )
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    await dial_queued(app)
    carrier.fail_with = None
    clock.advance(dialing.RETRY_AFTER_S[0])
    await dial_queued(app)

    assert [c for c, _ in carrier.dials] == [call_id, call_id]
    assert (await get_call(client, tenant, call_id))["provider_call_id"] is not None


async def test_an_unknown_outcome_is_never_redialed_at_a_carrier_without_keys(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The worker 'dies' after the carrier may have placed the call: the call is not
    dialed again; after the last retry it fails and its hold is released."""
    carrier = install_carrier(
        app, RecordingCarrier(repeatable_dial=False, fail_with=TimeoutError("read timed out"))
    )
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    await dial_queued(app)
    for delay in dialing.RETRY_AFTER_S:
        clock.advance(delay)
        assert await dial_queued(app) == 1

    assert len(carrier.dials) == 1
    gave_up = await get_call(client, tenant, call_id)
    assert (gave_up["status"], gave_up["end_reason"]) == ("failed", "failed")
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)


async def test_an_unknown_outcome_is_redialed_with_the_same_reference_where_that_is_safe(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    carrier = install_carrier(app, RecordingCarrier(fail_with=TimeoutError("read timed out")))
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    await dial_queued(app)
    carrier.fail_with = None
    clock.advance(dialing.RETRY_AFTER_S[0])
    await dial_queued(app)

    [first, second] = carrier.dials
    assert first == second == (call_id, first[1])
    assert (await get_call(client, tenant, call_id))["provider_call_id"] == (
        "sim_" + first[1].partition("_")[2]
    )


async def test_hanging_up_a_call_not_dialed_yet_cancels_it_and_it_is_never_dialed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    carrier = install_carrier(app, RecordingCarrier())
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    path = f"/v1/calls/{call_id}/actions"

    early_dtmf = await client.post(
        path, json={"action": "dtmf", "parameters": {"digits": "1"}}, headers=tenant.headers
    )
    assert early_dtmf.status_code == 409
    hangup = await client.post(path, json={"action": "hangup"}, headers=tenant.headers)
    assert hangup.status_code == 201, hangup.text
    await dial_queued(app)

    canceled = await get_call(client, tenant, call_id)
    assert (canceled["status"], canceled["end_reason"]) == ("canceled", "caller_hangup")
    assert carrier.dials == []
    assert await wallet_of(client, tenant, wallet["id"]) == (1000, 0)


async def test_a_call_hung_up_while_it_was_being_dialed_is_hung_up_at_the_carrier(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    class HungUpMeanwhile(RecordingCarrier):
        async def dial(self, **kwargs: object) -> object:  # type: ignore[override]
            dialed = await super().dial(**kwargs)  # type: ignore[arg-type]
            hangup = await client.post(
                f"/v1/calls/{call_id}/actions", json={"action": "hangup"}, headers=tenant.headers
            )
            assert hangup.status_code == 201, hangup.text
            return dialed

    carrier = install_carrier(app, HungUpMeanwhile())
    await dial_queued(app)

    shown = await get_call(client, tenant, call_id)
    assert shown["status"] == "canceled"
    assert shown["provider_call_id"] is not None
    assert carrier.actions == [(call_id, "hangup")]


async def test_test_keys_dial_the_simulator_whatever_the_configured_provider(
    database_url: str, redis_url: str | None
) -> None:
    settings = make_settings(
        database_url,
        redis_url,
        call_provider="twilio",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token-0123456789",
    )
    async with running_app(settings) as app:
        twilio = install_carrier(app, RecordingCarrier(name="twilio", repeatable_dial=False))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            tenant = await make_tenant(app)
            await fund_wallet(client, tenant.headers, amount=5000)
            created = await client.post(
                "/v1/api-keys", json={"name": "ci", "environment": "test"}, headers=tenant.headers
            )
            test_key = {"Authorization": f"Bearer {created.json()['key']}"}
            live = (await place(client, tenant.headers, ANSWERED_94S)).json()
            test = (await place(client, test_key, ANSWERED_94S)).json()
            await dial_queued(app)
            live = await get_call(client, tenant, live["id"])
            test = await get_call(client, tenant, test["id"])

    assert (live["provider"], live["livemode"]) == ("twilio", True)
    assert (test["provider"], test["livemode"]) == ("simulator", False)
    assert str(test["provider_call_id"]).startswith("sim_")
    assert [call_id for call_id, _ in twilio.dials] == [live["id"]]


async def test_in_the_app_the_call_is_dialed_right_after_the_commit(
    database_url: str, redis_url: str | None
) -> None:
    settings = make_settings(database_url, redis_url, run_jobs=True)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            tenant = await make_tenant(app)
            await fund_wallet(client, tenant.headers, amount=1000)
            placed = await place(client, tenant.headers, ANSWERED_94S)
            assert placed.status_code == 201
            dialed = None
            for _ in range(100):  # the runner is woken by the commit; no 1 s poll needed
                dialed = (await get_call(client, tenant, placed.json()["id"]))["provider_call_id"]
                if dialed:
                    break
                await asyncio.sleep(0.02)
    assert dialed is not None


async def test_placing_holds_the_wallet_lock_without_waiting_for_the_carrier(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A carrier that hangs does not hold up other placements on the same wallet."""
    entered, release = asyncio.Event(), asyncio.Event()

    class SlowCarrier(RecordingCarrier):
        async def dial(self, **kwargs: object) -> object:  # type: ignore[override]
            entered.set()
            await release.wait()
            return await super().dial(**kwargs)  # type: ignore[arg-type]

    install_carrier(app, SlowCarrier())
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    first = asyncio.create_task(place(client, tenant.headers, ANSWERED_94S))
    # Queued (a busy machine can take over a second); the dialer then takes it.
    await asyncio.wait({first}, timeout=10)
    dialing_task = asyncio.create_task(dial_queued(app))
    await asyncio.wait_for(entered.wait(), timeout=5)  # the carrier is now "slow"

    second = await asyncio.wait_for(place(client, tenant.headers, ANSWERED_94S), timeout=5)

    assert second.status_code == 201
    assert (await asyncio.wait_for(first, timeout=5)).status_code == 201
    release.set()
    await dialing_task
    async with app.state.db.sessionmaker() as session:
        placed = await session.scalar(
            select(func.count()).select_from(Call).where(Call.org_id == tenant.org_id)
        )
    assert placed == 2
