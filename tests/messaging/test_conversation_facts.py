"""Conversations' analytics change time is ``facts_changed_at`` (migration 0057): it moves
with what conversation metrics read (a status, an assignment) and not with filing's
times and counts, whose UPDATE stays HOT; deleted conversations are touched, so folded
rollups stop counting them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, select
from sqlalchemy.sql import visitors

from commbase.analytics import planner, rollup
from commbase.analytics.registry import registered
from commbase.analytics.scope import Scope
from commbase.core.time import FrozenClock, use_clock
from commbase.messaging import privacy
from commbase.messaging.metrics import CONVERSATIONS
from commbase.messaging.models import FACT_COLUMNS, Conversation
from tests.identity.factories import Tenant, make_tenant
from tests.messaging.conftest import World
from tests.messaging.factories import create_account

T0 = datetime(2026, 11, 21, 10, 7, tzinfo=UTC)
# The module's tests share a database and the fold's watermark: each starts later.
LATER = {"filing": 0, "erased": 3, "deleted": 6}
RANGE = "from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&interval=day"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


def test_every_column_conversation_metrics_read_moves_the_change_time() -> None:
    """A metric reading a column outside ``FACT_COLUMNS`` would go stale after a fold:
    changing that column would not move ``facts_changed_at``."""
    table = Conversation.__table__
    read: set[str] = set()
    for metric in registered().values():
        source = metric.source
        if source is None or source.table is not table:
            continue
        parts = [metric.value, metric.where, source.time, source.org, source.account]
        parts += [source.where, *source.dimensions.values()]
        for part in parts:
            if part is None:
                continue
            for element in visitors.iterate(getattr(part, "expression", part)):
                if isinstance(element, Column) and element.table is table:
                    read.add(element.name)
    assert CONVERSATIONS.changed.expression.name == "facts_changed_at"
    assert "status" in read
    assert "first_response_seconds" in read
    assert read <= FACT_COLUMNS


async def _inbound(world: World, tenant: Tenant, account_id: str, text: str) -> dict[str, Any]:
    response = await world.client.post(
        f"/v1/messages/inbound?account_id={account_id}",
        json={"from_phone": "+420601300001", "body": text},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _totals(world: World, tenant: Tenant) -> dict[str, Any]:
    response = await world.client.get(
        f"/v1/analytics/series?metrics=conversations.total,conversations.closed&{RANGE}",
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    return {s["metric"]: s["total"] for s in response.json()["series"]}


async def _version(world: World, org_id: str) -> str:
    async with world.app.state.db.sessionmaker() as session:
        plan = await planner.plan(
            session,
            [registered()["conversations.total"]],
            [datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)],
            Scope(org_id),
        )
    return plan.fingerprint


async def _times(world: World, conversation_id: str) -> tuple[datetime, datetime]:
    async with world.app.state.db.sessionmaker() as session:
        row = (
            await session.execute(
                select(Conversation.updated_at, Conversation.facts_changed_at).where(
                    Conversation.id == conversation_id
                )
            )
        ).one()
    return row[0], row[1]


async def _folded(world: World, tenant: Tenant, clock: FrozenClock) -> str:
    """A web chat conversation with one inbound message, folded; its id."""
    account = await create_account(world.client, tenant, kind="web_chat", name="Chat")
    message = await _inbound(world, tenant, account["id"], "Is my order shipped?")
    clock.advance(60)
    await rollup.fold(world.app.state.db, now=clock.now(), lag=timedelta(0))
    clock.advance(60)
    conversation_id: str = message["conversation_id"]
    return conversation_id


async def test_filing_leaves_the_change_time_and_a_resolution_moves_it(
    world: World, clock: FrozenClock
) -> None:
    clock.advance(LATER["filing"] * 3600)
    tenant = await make_tenant(world.app)
    conversation_id = await _folded(world, tenant, clock)
    account_id = (
        await world.client.get(f"/v1/conversations/{conversation_id}", headers=tenant.headers)
    ).json()["account_id"]
    assert await _totals(world, tenant) == {"conversations.total": 1, "conversations.closed": 0}
    version = await _version(world, tenant.org_id)
    updated, changed = await _times(world, conversation_id)

    # Another message files into the same conversation: its counts and updated_at move,
    # nothing a metric reads does, so the data version stays (no quarter turns dirty).
    again = await _inbound(world, tenant, account_id, "Hello?")
    assert again["conversation_id"] == conversation_id
    filed_updated, filed_changed = await _times(world, conversation_id)
    assert filed_updated > updated
    assert filed_changed == changed
    assert await _version(world, tenant.org_id) == version

    clock.advance(60)
    resolved = await world.client.post(
        f"/v1/conversations/{conversation_id}/status",
        json={"status": "resolved"},
        headers=tenant.headers,
    )
    assert resolved.status_code == 200, resolved.text
    assert (await _times(world, conversation_id))[1] == clock.now()
    assert await _version(world, tenant.org_id) != version
    assert await _totals(world, tenant) == {"conversations.total": 1, "conversations.closed": 1}


async def test_a_member_erased_unassigns_and_moves_the_change_time(
    world: World, clock: FrozenClock
) -> None:
    clock.advance(LATER["erased"] * 3600)
    tenant = await make_tenant(world.app)
    conversation_id = await _folded(world, tenant, clock)
    assigned = await world.client.post(
        f"/v1/conversations/{conversation_id}/assign",
        json={"user_id": tenant.owner_id},
        headers=tenant.headers,
    )
    assert assigned.status_code == 200, assigned.text
    _, changed = await _times(world, conversation_id)
    assert changed == clock.now()
    clock.advance(60)
    await rollup.fold(world.app.state.db, now=clock.now(), lag=timedelta(0))
    by_agent = f"/v1/analytics/series?metrics=conversations.total&{RANGE}&group_by=agent"
    before = await world.client.get(by_agent, headers=tenant.headers)
    groups = {s["group"] for s in before.json()["series"]}
    assert tenant.owner_id in groups

    clock.advance(60)
    async with world.app.state.db.sessionmaker() as session:
        await privacy.erase_user(
            session, org_id=tenant.org_id, subject_id=tenant.owner_id, reference="erased_1"
        )
        await session.commit()
    assert (await _times(world, conversation_id))[1] == clock.now()
    after = await world.client.get(by_agent, headers=tenant.headers)
    assert tenant.owner_id not in {s["group"] for s in after.json()["series"]}


async def test_deleted_conversations_stop_counting_after_a_fold(
    world: World, clock: FrozenClock
) -> None:
    clock.advance(LATER["deleted"] * 3600)
    tenant = await make_tenant(world.app)
    conversation_id = await _folded(world, tenant, clock)
    contact_id = (
        await world.client.get(f"/v1/conversations/{conversation_id}", headers=tenant.headers)
    ).json()["contact_id"]
    other = await make_tenant(world.app)
    other_conversation = await _folded(world, other, clock)
    account_id = (
        await world.client.get(f"/v1/conversations/{other_conversation}", headers=other.headers)
    ).json()["account_id"]
    assert (await _totals(world, tenant))["conversations.total"] == 1
    assert (await _totals(world, other))["conversations.total"] == 1

    erasure = await world.client.post(
        "/v1/privacy/erasures",
        json={"subject_type": "contact", "subject_id": contact_id},
        headers=tenant.headers,
    )
    assert erasure.status_code == 201, erasure.text
    assert (await _totals(world, tenant))["conversations.total"] == 0

    deleted = await world.client.delete(f"/v1/channel-accounts/{account_id}", headers=other.headers)
    assert deleted.status_code == 204, deleted.text
    assert (await _totals(world, other))["conversations.total"] == 0
