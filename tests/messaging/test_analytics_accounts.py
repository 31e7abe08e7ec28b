"""Analytics' ``account_id`` names a channel account of the caller's organization: a
``chan_`` id that is not one of its accounts (unknown, or another organization's) is a
404 problem on every analytics route that takes it, never an empty answer for it; the
free-form account ids of tracked events stay accepted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.conftest import assert_problem
from tests.messaging.conftest import World
from tests.messaging.factories import create_account

DATE = "2026-11-20"
READS = [
    "/v1/analytics/series?metrics=messages.total&from=2026-11-19T00:00:00Z"
    "&to=2026-11-21T00:00:00Z&account_id={}",
    "/v1/analytics/series.csv?metrics=messages.total&from=2026-11-19T00:00:00Z"
    "&to=2026-11-21T00:00:00Z&account_id={}",
    "/v1/analytics/realtime?account_id={}",
    "/v1/analytics/dashboard?days=7&account_id={}",
    "/v1/analytics/patterns?metric=messages.total&account_id={}",
    "/v1/analytics/snapshots?account_id={}",
    "/v1/analytics/snapshots.csv?account_id={}",
]


async def _ask(world: World, url: str, headers: dict[str, str]) -> Any:
    return await world.client.get(url, headers=headers)


async def _snapshot(world: World, account_id: str, headers: dict[str, str]) -> Any:
    body = {"type": "daily", "date": DATE, "account_id": account_id}
    return await world.client.post("/v1/analytics/snapshots", json=body, headers=headers)


@pytest.mark.parametrize("url", READS)
async def test_own_channel_account_is_answered(world: World, url: str) -> None:
    account = await create_account(world.client, world.tenant, kind="web_chat", name="Site")
    response = await _ask(world, url.format(account["id"]), world.tenant.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("url", READS)
async def test_another_organizations_or_unknown_account_is_not_found(
    world: World, url: str
) -> None:
    theirs = await create_account(world.client, world.other, kind="web_chat", name="Theirs")
    for account_id in (theirs["id"], "chan_doesnotexist"):
        response = await _ask(world, url.format(account_id), world.tenant.headers)
        body = assert_problem(response, 404, "not-found")
        assert account_id not in str(body)
    # The owner still reads its own account.
    response = await _ask(world, url.format(theirs["id"]), world.other.headers)
    assert response.status_code == 200, response.text


async def test_free_form_tracked_event_account_ids_stay_accepted(world: World) -> None:
    for url in READS:
        response = await _ask(world, url.format("acct_1"), world.tenant.headers)
        assert response.status_code == 200, (url, response.text)


async def test_snapshot_generation_checks_the_account(world: World) -> None:
    mine = await create_account(world.client, world.tenant, kind="sms", name="Texts")
    theirs = await create_account(world.client, world.other, kind="sms", name="Theirs")
    created = await _snapshot(world, mine["id"], world.tenant.headers)
    assert created.status_code == 201, created.text
    assert created.json()["account_id"] == mine["id"]
    for account_id in (theirs["id"], "chan_doesnotexist"):
        assert_problem(await _snapshot(world, account_id, world.tenant.headers), 404, "not-found")
    # Nothing was stored for the refused accounts.
    listed = await _ask(world, "/v1/analytics/snapshots?limit=100", world.tenant.headers)
    assert {s["account_id"] for s in listed.json()["data"]} <= {None, mine["id"]}
    assert (await _snapshot(world, "acct_1", world.tenant.headers)).status_code == 201


@pytest.mark.parametrize("tokens", ["12", -1, 10_000_001, 1.5, True])
async def test_tokens_used_must_be_a_whole_number(world: World, tokens: Any) -> None:
    account = await create_account(world.client, world.tenant, kind="web_chat", name="Site")
    url = f"/v1/messages/inbound?account_id={account['id']}"
    body = {"session_id": "visitor-1", "body": "hi", "metadata": {"tokens_used": tokens}}
    refused = await world.client.post(url, json=body, headers=world.tenant.headers)
    assert_problem(refused, 422, "validation-failed")
    body["metadata"] = {"tokens_used": 12}
    stored = await world.client.post(url, json=body, headers=world.tenant.headers)
    assert stored.status_code in (200, 201), stored.text
    assert stored.json()["metadata"]["tokens_used"] == 12
