"""Phone numbers on the simulator and simulated inbound calls: routed like a carrier's,
played on the clock, charged once at the inbound rate; working hours as the
organization reads them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from commbase.calls.inbound.hours import is_open
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.core.money import cost_of
from commbase.core.time import FrozenClock, use_clock
from commbase.demo import load_demo
from commbase.demo.organization import DEMO_NUMBER
from commbase.settings import Settings
from tests.calls.factories import fund_wallet, outbox_payloads, outbox_types, run_clock
from tests.conftest import TEST_SECRET, make_settings
from tests.core.conftest import assert_problem
from tests.identity.factories import Tenant, auth, make_tenant

NUMBER = "+14155550140"
CALLER = "+14155550107"  # the simulated caller stays on 60 + 07 = 67 s: 2 minutes
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday
RATE = Decimal("0.05")


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(database_url, redis_url, inbound_rate_per_minute=RATE)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


async def register(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    return await client.post(
        "/v1/phone-numbers", json={"number": NUMBER, **body}, headers=tenant.headers
    )


async def ring(
    client: httpx.AsyncClient, tenant: Tenant, number_id: str, caller: str = CALLER, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/phone-numbers/{number_id}/simulate-inbound",
        json={"from": caller, **body},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 25, 8, 59, tzinfo=UTC), True),  # Wed 09:59 in Prague
        (datetime(2026, 11, 25, 7, 59, tzinfo=UTC), False),  # Wed 08:59
        (datetime(2026, 11, 25, 16, 0, tzinfo=UTC), False),  # Wed 17:00: closed at 17
        (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), False),  # Saturday, not listed
        (datetime(2026, 11, 29, 10, 0, tzinfo=UTC), False),  # Sunday "closed"
        (datetime(2026, 11, 26, 22, 30, tzinfo=UTC), True),  # Thu 23:30, "22-6"
        (datetime(2026, 11, 27, 4, 0, tzinfo=UTC), True),  # Fri 05:00, Thursday's night
        (datetime(2026, 11, 27, 5, 30, tzinfo=UTC), False),  # Fri 06:30: Friday opens 9:30
        (datetime(2026, 11, 27, 8, 30, tzinfo=UTC), True),  # Fri 09:30
    ],
)
def test_working_hours_are_read_in_the_organizations_time_zone(
    moment: datetime, expected: bool
) -> None:
    table = {
        "monday": "9-17",
        "wednesday": "9-17",
        "thursday": "22-6",
        "friday": "9:30-17",
        "sunday": "closed",
    }
    assert is_open(table, moment=moment, timezone="Europe/Prague") is expected
    assert is_open({}, moment=moment, timezone="Europe/Prague") is True


async def test_numbers_are_registered_listed_changed_and_removed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await register(client, tenant, capabilities=["voice", "sms"], agent_id="desk")
    assert created.status_code == 201, created.text
    number = created.json()
    assert (number["number"], number["provider"], number["answer_mode"]) == (
        NUMBER,
        "simulator",
        "agent",
    )
    assert number["capabilities"] == ["voice", "sms"]

    # One provider number, one registration, whichever organization asks.
    assert_problem(await register(client, tenant), 409, "already-exists")
    other = await make_tenant(app)
    assert_problem(await register(client, other), 409, "already-exists")

    # Modes need what they route to.
    assert_problem(
        await client.patch(
            f"/v1/phone-numbers/{number['id']}",
            json={"answer_mode": "connect"},
            headers=tenant.headers,
        ),
        422,
        "validation-failed",
    )
    changed = await client.patch(
        f"/v1/phone-numbers/{number['id']}",
        json={"answer_mode": "connect", "connect_url": "wss://agent.example/talk"},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["connect_url"] == "wss://agent.example/talk"

    gone = await client.delete(f"/v1/phone-numbers/{number['id']}", headers=tenant.headers)
    assert gone.status_code == 204
    assert_problem(
        await client.get(f"/v1/phone-numbers/{number['id']}", headers=tenant.headers),
        404,
        "not-found",
    )
    assert (await client.get("/v1/phone-numbers", headers=tenant.headers)).json()["data"] == []


async def test_a_simulated_inbound_call_is_answered_by_the_agent_and_charged_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1_000)
    number = (await register(client, tenant, agent_id="desk")).json()

    answer = await ring(client, tenant, number["id"])

    assert answer["route"] == "agent"
    call = answer["call"]
    assert (call["direction"], call["status"], call["provider"]) == (
        "inbound",
        "in-progress",
        "simulator",
    )
    assert answer["language"] == "en-US"
    [inbound] = await outbox_payloads(app, tenant, "call.inbound")
    assert (inbound["number_id"], inbound["route"], inbound["caller"]) == (
        number["id"],
        "agent",
        CALLER,
    )

    await run_clock(app, clock, 70, step=10)
    await run_clock(app, clock, 30, step=10)  # later ticks change nothing more

    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["duration_seconds"], done["billable_minutes"]) == (
        "completed",
        67,
        2,
    )
    assert done["cost_amount"] == cost_of(2, RATE, "USD") == 10
    entries = await client.get(f"/v1/transactions?call_id={call['id']}", headers=tenant.headers)
    assert [e["amount"] for e in entries.json()["data"]] == [10]
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1_000 - 10, 0)
    contacts = (await client.get("/v1/contacts", headers=tenant.headers)).json()["data"]
    assert [
        (c["phone"], c["stats"]["total_calls"], c["stats"]["total_duration"]) for c in contacts
    ] == [(CALLER, 1, 67)]
    assert (await outbox_types(app, tenant)).count("call.completed") == 1


async def test_a_number_forwarding_to_a_member_rings_their_phone(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1_000)
    phoned = await client.patch(
        f"/v1/users/{tenant.owner_id}", json={"phone": "+14155550155"}, headers=tenant.headers
    )
    assert phoned.status_code == 200, phoned.text
    number = (
        await register(client, tenant, answer_mode="member", member_user_id=tenant.owner_id)
    ).json()

    answer = await ring(client, tenant, number["id"])

    assert (answer["route"], answer["forward_to"]) == ("member", "+14155550155")
    assert answer["call"]["user_id"] == tenant.owner_id


async def test_without_a_wallet_the_caller_hears_the_number_is_unavailable(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    number = (await register(client, tenant)).json()

    answer = await ring(client, tenant, number["id"])

    assert answer["route"] == "unavailable"
    await run_clock(app, clock, 80, step=10)
    done = (await client.get(f"/v1/calls/{answer['call_id']}", headers=tenant.headers)).json()
    assert (done["status"], done["cost_amount"], done["wallet_id"]) == ("completed", None, None)


async def test_a_blocked_caller_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1_000)
    blocked = await client.post(
        "/v1/contacts",
        json={"name": "Pest", "phone": CALLER, "blocked": True},
        headers=tenant.headers,
    )
    assert blocked.status_code == 201, blocked.text
    number = (await register(client, tenant)).json()

    answer = await ring(client, tenant, number["id"])

    assert answer["route"] == "rejected"
    assert (answer["call"]["status"], answer["call"]["cost_amount"]) == ("canceled", None)


async def test_out_of_hours_a_simulated_call_goes_to_voicemail(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1_000)
    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"ai_settings": {"working_hours": {"monday": "9-17"}}}},
        headers=tenant.headers,
    )
    number = (await register(client, tenant, after_hours_greeting="We are closed.")).json()

    with use_clock(FrozenClock(T0)):  # a Wednesday
        answer = await ring(client, tenant, number["id"])

    assert (answer["route"], answer["greeting"]) == ("voicemail", "We are closed.")


async def test_only_simulator_numbers_take_simulated_calls(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    number = (await register(client, tenant)).json()
    async with app.state.db.sessionmaker() as session:
        row = await session.get(PhoneNumber, number["id"])
        assert row is not None
        row.provider = "twilio"
        await session.commit()

    refused = await client.post(
        f"/v1/phone-numbers/{number['id']}/simulate-inbound",
        json={"from": CALLER},
        headers=tenant.headers,
    )
    assert_problem(refused, 409, "conflict")


async def test_the_demo_organization_has_a_number_to_ring(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    demo = await load_demo(app.state.db, secret=TEST_SECRET)
    headers = auth(demo.api_key)
    [number] = (await client.get("/v1/phone-numbers", headers=headers)).json()["data"]
    assert (number["number"], number["provider"]) == (DEMO_NUMBER, "simulator")

    rang = await client.post(
        f"/v1/phone-numbers/{number['id']}/simulate-inbound",
        json={"from": "+14155550107"},
        headers=headers,
    )
    assert rang.status_code == 201, rang.text
    assert rang.json()["route"] in {"agent", "voicemail"}  # by the demo's working hours
