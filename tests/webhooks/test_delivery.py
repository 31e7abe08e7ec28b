"""Delivery to a real receiver: signatures, retries on schedule, disabling, workers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from commbase.webhooks.dispatcher import LEASE_S, Dispatcher
from commbase.webhooks.enums import DeliveryStatus
from commbase.webhooks.models import WebhookDelivery
from tests.conftest import TEST_SECRET
from tests.identity.factories import Tenant, make_tenant
from tests.webhooks.receiver import Receiver


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    with use_clock(frozen):
        yield frozen


async def subscribe(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks", json={"url": receiver.url, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


async def make_contact(client: httpx.AsyncClient, tenant: Tenant, name: str = "Ada") -> str:
    response = await client.post("/v1/contacts", json={"name": name}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def deliveries(client: httpx.AsyncClient, tenant: Tenant, endpoint_id: str) -> list[Any]:
    response = await client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data: list[Any] = response.json()["data"]
    return data


async def test_a_delivery_is_signed_and_verifies(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, event_types=["contact.*"])
    assert endpoint["secret"].startswith("whsec_")
    contact_id = await make_contact(client, tenant)
    assert await dispatcher.run_once() >= 1
    [got] = receiver.received
    assert got.verified_with == [endpoint["secret"]]
    assert got.event_type == "contact.created"
    assert got.body is not None
    assert got.body["data"]["id"] == contact_id
    assert set(got.body) == {"type", "timestamp", "data"}
    async with app.state.db.sessionmaker() as session:
        event_id = await session.scalar(
            select(OutboxEvent.id).where(OutboxEvent.type == "contact.created")
        )
    assert got.webhook_id == event_id

    [delivery] = await deliveries(client, tenant, endpoint["id"])
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1)
    detail = await client.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}", headers=tenant.headers
    )
    [attempt] = detail.json()["attempt_log"]
    assert (attempt["response_status"], attempt["succeeded"], attempt["response_body"]) == (
        200,
        True,
        "ok",
    )
    shown = (await client.get(f"/v1/webhooks/{endpoint['id']}", headers=tenant.headers)).json()
    assert (shown["total_attempts"], shown["successful_deliveries"]) == (1, 1)
    assert "secret" not in shown
    # Nothing is sent twice.
    assert await dispatcher.run_once() == 0
    assert len(receiver.received) == 1


async def test_filters_choose_what_each_endpoint_gets(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    calls_only = await subscribe(client, tenant, receiver, event_types=["call.*"])
    everything = await subscribe(client, tenant, receiver)
    exact = await subscribe(client, tenant, receiver, event_types=["contact.deleted"])
    await subscribe(client, other, receiver)
    contact_id = await make_contact(client, tenant)
    await client.delete(f"/v1/contacts/{contact_id}", headers=tenant.headers)
    await dispatcher.run_once()
    assert await deliveries(client, tenant, calls_only["id"]) == []
    assert sorted(d["event_type"] for d in await deliveries(client, tenant, everything["id"])) == [
        "contact.created",
        "contact.deleted",
    ]
    assert [d["event_type"] for d in await deliveries(client, tenant, exact["id"])] == [
        "contact.deleted"
    ]
    # The other organization's endpoint hears nothing of this one's events.
    assert len(receiver.received) == 3


async def test_retries_arrive_on_schedule(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    dispatcher: Dispatcher,
    clock: FrozenClock,
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, event_types=["contact.created"])
    receiver.script = [(500, {}), (502, {})]
    await make_contact(client, tenant)
    await dispatcher.run_once()
    assert len(receiver.received) == 1
    for wait, expected in ((59, 1), (1, 2), (299, 2), (1, 3)):
        clock.advance(wait)
        await dispatcher.run_once()
        assert len(receiver.received) == expected, f"after +{wait}s"
    assert len(set(receiver.ids())) == 1  # one webhook-id on every attempt
    [delivery] = await deliveries(client, tenant, endpoint["id"])
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 3)
    detail = await client.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}", headers=tenant.headers
    )
    assert [a["response_status"] for a in detail.json()["attempt_log"]] == [500, 502, 200]


async def test_retry_after_is_honoured(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    dispatcher: Dispatcher,
    clock: FrozenClock,
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, event_types=["contact.created"])
    receiver.script = [(429, {"Retry-After": "7"}), (503, {"Retry-After": "1000"})]
    await make_contact(client, tenant)
    await dispatcher.run_once()
    clock.advance(7)
    await dispatcher.run_once()
    assert len(receiver.received) == 2
    clock.advance(999)
    await dispatcher.run_once()
    assert len(receiver.received) == 2
    clock.advance(1)
    await dispatcher.run_once()
    [delivery] = await deliveries(client, tenant, endpoint["id"])
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 3)


async def test_exhausted_deliveries_fail_and_a_streak_disables_the_endpoint(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    dispatcher: Dispatcher,
    clock: FrozenClock,
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(
        client, tenant, receiver, event_types=["contact.created"], retry_schedule=[10]
    )
    receiver.script = [(500, {})] * 10
    await make_contact(client, tenant, "one")
    await make_contact(client, tenant, "two")
    await dispatcher.run_once()
    clock.advance(10)
    await dispatcher.run_once()
    assert len(receiver.received) == 4  # two events, two attempts each
    shown = (await client.get(f"/v1/webhooks/{endpoint['id']}", headers=tenant.headers)).json()
    assert (shown["status"], shown["failed_deliveries"], shown["consecutive_failures"]) == (
        "disabled",
        2,
        2,
    )
    assert "in a row" in shown["disabled_reason"]
    statuses = {d["status"] for d in await deliveries(client, tenant, endpoint["id"])}
    assert statuses == {"failed"}
    log = await client.get("/v1/audit-log?action=webhook.disabled", headers=tenant.headers)
    assert [e["target_id"] for e in log.json()["data"]] == [endpoint["id"]]
    async with app.state.db.sessionmaker() as session:
        disabled = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.type == "webhook.endpoint.disabled")
        )
    assert disabled is not None
    assert disabled.payload["id"] == endpoint["id"]
    # A disabled endpoint gets nothing more until it is turned back on.
    await make_contact(client, tenant, "three")
    await dispatcher.run_once()
    assert len(receiver.received) == 4
    back = await client.patch(
        f"/v1/webhooks/{endpoint['id']}", json={"status": "active"}, headers=tenant.headers
    )
    assert (back.json()["status"], back.json()["consecutive_failures"]) == ("active", 0)


async def test_410_disables_at_once(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver)
    receiver.script = [(410, {})]
    await make_contact(client, tenant)
    await dispatcher.run_once()
    shown = (await client.get(f"/v1/webhooks/{endpoint['id']}", headers=tenant.headers)).json()
    assert shown["status"] == "disabled"
    assert "410" in shown["disabled_reason"]
    [delivery] = await deliveries(client, tenant, endpoint["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)


async def test_redirects_are_not_followed(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, event_types=["contact.created"])
    receiver.script = [(302, {"Location": "http://169.254.169.254/latest/meta-data"})]
    await make_contact(client, tenant)
    await dispatcher.run_once()
    assert len(receiver.received) == 1
    [delivery] = await deliveries(client, tenant, endpoint["id"])
    assert (delivery["status"], delivery["last_status_code"]) == ("pending", 302)


async def test_secret_rotation_signs_with_both_during_the_grace(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    dispatcher: Dispatcher,
    clock: FrozenClock,
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, event_types=["contact.created"])
    old = endpoint["secret"]
    rotated = await client.post(
        f"/v1/webhooks/{endpoint['id']}/rotate-secret",
        json={"grace_period_s": 3600},
        headers=tenant.headers,
    )
    new = rotated.json()["secret"]
    receiver.secrets.append(new)
    assert new != old
    await make_contact(client, tenant)
    await dispatcher.run_once()
    assert sorted(receiver.received[0].verified_with) == sorted([old, new])
    clock.advance(3601)
    await make_contact(client, tenant, "later")
    await dispatcher.run_once()
    assert receiver.received[1].verified_with == [new]


async def test_test_ping_manual_retry_and_replay(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, retry_schedule=[])
    base = f"/v1/webhooks/{endpoint['id']}"
    ping = await client.post(f"{base}/test", headers=tenant.headers)
    assert ping.status_code == 202
    await dispatcher.run_once()
    assert receiver.received[0].event_type == "webhook.test"

    receiver.script = [(500, {})]
    await make_contact(client, tenant)
    await dispatcher.run_once()
    failed = [
        d for d in await deliveries(client, tenant, endpoint["id"]) if d["status"] == "failed"
    ]
    assert len(failed) == 1
    retried = await client.post(
        f"{base}/deliveries/{failed[0]['id']}/retry", headers=tenant.headers
    )
    assert retried.status_code == 202
    await dispatcher.run_once()
    assert len(receiver.received) == 3
    assert receiver.received[2].webhook_id == receiver.received[1].webhook_id

    # Replay the range since the endpoint was made: the contact event, not the ping.
    since = endpoint["created_at"]
    replayed = await client.post(f"{base}/replay", json={"since": since}, headers=tenant.headers)
    assert replayed.json() == {"queued": 1}
    await dispatcher.run_once()
    assert receiver.ids().count(receiver.received[1].webhook_id) == 3


async def test_a_worker_that_dies_loses_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    tenant = await make_tenant(app)
    await subscribe(client, tenant, receiver, event_types=["contact.created"])
    for n in range(5):
        await make_contact(client, tenant, f"c{n}")
    doomed = Dispatcher(app.state.db, app.state.settings, worker_id="doomed")
    survivor = Dispatcher(app.state.db, app.state.settings, worker_id="survivor")
    try:
        await doomed.fan_out()
        claimed = await doomed._claim_due(100)  # claims, then "dies" before sending
        assert len(claimed) == 5
        assert await survivor.run_once() == 0  # the claims still hold
        clock.advance(LEASE_S + 1)
        assert await survivor.run_once() == 5
        assert sorted(receiver.ids()) == sorted({d.event_id for d, _ in claimed})
    finally:
        await doomed.close()
        await survivor.close()


async def test_a_worker_still_sending_keeps_its_claim(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    """The lease is short so that a dead worker's deliveries go out again within
    seconds; a live worker renews it for as long as its send takes."""
    tenant = await make_tenant(app)
    await subscribe(client, tenant, receiver, event_types=["contact.created"])
    await make_contact(client, tenant)
    sending = Dispatcher(app.state.db, app.state.settings, worker_id="sending", renew_every_s=0.05)
    other = Dispatcher(app.state.db, app.state.settings, worker_id="other")
    receiver.hold.set()  # the receiver takes its time to answer
    try:
        await sending.fan_out()
        send = asyncio.create_task(sending.send_due())
        assert await asyncio.to_thread(receiver.holding.wait, 10)
        clock.advance(LEASE_S + 1)  # without renewal, the claim would have run out

        async def lease_ends() -> list[datetime]:
            async with app.state.db.sessionmaker() as session:
                return list(await session.scalars(select(WebhookDelivery.next_attempt_at)))

        for _ in range(500):  # the worker renews its lease every 0.05 s
            if all(end > clock.now() for end in await lease_ends()):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the sending worker did not renew its lease")
        assert await other.run_once() == 0  # still claimed: nothing to send twice

        receiver.go.set()
        assert await send == 1
        assert await other.run_once() == 0
    finally:
        receiver.go.set()
        await sending.close()
        await other.close()
    assert len(receiver.ids()) == 1
    async with app.state.db.sessionmaker() as session:
        statuses = list(await session.scalars(select(WebhookDelivery.status)))
    assert statuses == [DeliveryStatus.SUCCEEDED]


async def test_event_types_are_published_from_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    response = await client.get("/v1/webhooks/event-types", headers=tenant.headers)
    assert response.status_code == 200
    assert set(response.json()) == {"data"}
    types = {t["name"]: t for t in response.json()["data"]}
    for name in (
        "call.completed",
        "wallet.low_balance",
        "transcription.updated",
        "webhook.endpoint.disabled",
        "contact.created",
    ):
        assert name in types
    schema = types["call.completed"]["payload_schema"]
    assert {"id", "status", "duration_seconds", "cost_amount"} <= set(schema["properties"])


async def test_two_worker_processes_deliver_each_event_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    stack: str,
    settings: Any,
) -> None:
    if stack != "postgresql":
        pytest.skip("concurrent worker processes are a PostgreSQL (SKIP LOCKED) feature")
    tenant = await make_tenant(app)
    await subscribe(client, tenant, receiver, event_types=["contact.created"])
    for n in range(150):
        await make_contact(client, tenant, f"bulk{n}")
    env = {
        **os.environ,
        "COMMBASE_DATABASE_URL": settings.database_url,
        "COMMBASE_SECRET_KEY": TEST_SECRET,
        "COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
        "COMMBASE_LOG_LEVEL": "WARNING",
    }
    env.pop("COMMBASE_REDIS_URL", None)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "commbase.cli",
            "webhooks",
            "worker",
            "--until-idle",
            "--worker-id",
            f"proc-{n}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(2)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 120)
    assert all(w.returncode == 0 for w in workers), results
    ids = receiver.ids()
    assert len(ids) == 150
    assert len(set(ids)) == 150
    assert all(r.verified_with for r in receiver.received)


async def test_payloads_expire_after_the_retention_period(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    dispatcher: Dispatcher,
    clock: FrozenClock,
) -> None:
    tenant = await make_tenant(app)
    endpoint = await subscribe(client, tenant, receiver, event_types=["contact.created"])
    await make_contact(client, tenant, "old")
    await dispatcher.run_once()
    clock.advance(89 * 86_400)
    await make_contact(client, tenant, "recent")
    await dispatcher.run_once()
    clock.advance(2 * 86_400)
    run = await client.post("/v1/jobs/privacy.retention/runs", headers=tenant.headers)
    assert run.json()["status"] == "succeeded", run.text
    old, recent = sorted(
        await deliveries(client, tenant, endpoint["id"]), key=lambda d: d["created_at"]
    )
    assert old["payload"] is None
    assert old["status"] == "succeeded"
    assert recent["payload"] is not None
