"""One delivery that cannot be sent does not hold its batch's claims: the rest of the
batch is recorded, and nothing that arrived is sent again when the claims' lease ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from commbase.core.time import FrozenClock, use_clock
from commbase.webhooks.dispatcher import LEASE_S, Dispatcher
from commbase.webhooks.enums import AttemptOutcome, DeliveryStatus
from commbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.identity.factories import make_tenant
from tests.webhooks.receiver import Receiver


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    with use_clock(frozen):
        yield frozen


async def test_a_delivery_that_cannot_be_signed_fails_alone(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    ids = []
    for _ in range(2):
        made = await client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": ["contact.created"]},
            headers=tenant.headers,
        )
        assert made.status_code == 201, made.text
        receiver.secrets.append(made.json()["secret"])
        ids.append(made.json()["id"])
    good, broken = ids
    # A secret that no longer decrypts (as after COMMBASE_SECRET_KEY changed).
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == broken)
            .values(secret_encrypted="not-a-fernet-token")
        )
        await session.commit()
    created = await client.post("/v1/contacts", json={"name": "Ada"}, headers=tenant.headers)
    assert created.status_code == 201, created.text

    dispatcher = Dispatcher(app.state.db, app.state.settings, worker_id="worker")
    try:
        assert await dispatcher.run_once() == 2 + 2  # two fanned out, two attempted
        clock.advance(LEASE_S + 1)  # the batch's claims would have run out by now
        assert await dispatcher.run_once() == 0
    finally:
        await dispatcher.close()

    assert len(receiver.received) == 1  # the good endpoint's, once
    async with app.state.db.sessionmaker() as session:
        rows = {d.endpoint_id: d for d in await session.scalars(select(WebhookDelivery))}
        attempts = {a.endpoint_id: a for a in await session.scalars(select(WebhookAttempt))}
    assert rows[good].status == DeliveryStatus.SUCCEEDED
    assert (rows[broken].status, rows[broken].attempts) == (DeliveryStatus.PENDING, 1)
    assert rows[broken].claimed_by is None
    assert rows[broken].next_attempt_at is not None
    assert rows[broken].next_attempt_at > clock.now()  # retried on the endpoint's schedule
    assert attempts[broken].outcome == AttemptOutcome.CONNECTION_ERROR
    assert "InvalidToken" in (attempts[broken].error or "")
