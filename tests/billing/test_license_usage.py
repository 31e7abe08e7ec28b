"""A license's usage comes from the metric registry: the calls its user placed while
holding the seat (not before, not another user's), counted from the calls themselves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    created,
    module_app,
    module_client,
    plan,
    subscribe,
)
from tests.calls.factories import ANSWERED_94S, BUSY, fund_wallet, place, run_clock
from tests.identity.factories import add_member, login, make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_license_usage_counts_the_holders_calls_while_licensed(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    seller, buyer = await make_tenant(app), await make_tenant(app)
    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": seller.org_id}},
        headers=buyer.headers,
    )
    await fund_wallet(client, buyer.headers, amount=50_000)
    customer = await created(
        client,
        seller.headers,
        "/v1/billing/customers",
        kind="organization",
        reference_id=buyer.org_id,
    )
    team = await plan(client, seller.headers, "seats", 1000, pricing="per_seat")
    sub = await subscribe(client, seller.headers, customer["id"], team["id"], quantity=2)
    ana, ana_email = await add_member(app, buyer, role=Role.AGENT)
    _bo, bo_email = await add_member(app, buyer, role=Role.AGENT)
    as_ana = {"Authorization": f"Bearer {await login(client, ana_email)}"}
    as_bo = {"Authorization": f"Bearer {await login(client, bo_email)}"}

    before = await place(client, as_ana, ANSWERED_94S)  # before the seat: not counted
    assert before.status_code == 201, before.text
    await run_clock(app, clock, 200)
    seat = await created(
        client, seller.headers, f"/v1/billing/subscriptions/{sub['id']}/licenses", user_id=ana
    )
    clock.advance(1)
    mine = [
        (await place(client, as_ana, to)).json()["id"] for to in (ANSWERED_94S, BUSY, ANSWERED_94S)
    ]
    await place(client, as_bo, ANSWERED_94S)  # another user: not counted
    await run_clock(app, clock, 200)

    usage = await client.get(f"/v1/billing/licenses/{seat['id']}/usage", headers=seller.headers)
    assert usage.status_code == 200, usage.text
    calls = [(await client.get(f"/v1/calls/{i}", headers=buyer.headers)).json() for i in mine]
    durations = [c["duration_seconds"] for c in calls if c["duration_seconds"] is not None]
    completed = sum(1 for c in calls if c["status"] == "completed")
    assert completed == 2  # the two answered calls; the busy one failed
    body = usage.json()
    assert body["total_calls"] == 3
    assert body["calls_this_period"] == 3
    assert body["total_duration"] == sum(durations)
    assert body["average_duration"] == round(sum(durations) / len(durations), 2)
    assert body["success_rate"] == round(completed / 3 * 100, 2)
    assert (body["user_id"], body["until"]) == (ana, None)

    # Unassigned: the seat's usage stops at the unassignment.
    await client.post(f"/v1/billing/licenses/{seat['id']}/unassign", headers=seller.headers)
    clock.advance(1)
    await place(client, as_ana, ANSWERED_94S)
    await run_clock(app, clock, 200)
    after = (
        await client.get(f"/v1/billing/licenses/{seat['id']}/usage", headers=seller.headers)
    ).json()
    assert after["total_calls"] == 3
    assert after["until"] is not None
    # The buyer cannot read the seller's license; nor can a stranger.
    stranger = await make_tenant(app)
    for headers in (buyer.headers, stranger.headers):
        hidden = await client.get(f"/v1/billing/licenses/{seat['id']}/usage", headers=headers)
        assert hidden.status_code == 404
