"""Lab experiments (``/v1/track/lab``): recorded, completed, tokens past 32 bits, tenancy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.core.time import FrozenClock, use_clock
from commbase.engagement.lab.models import LabExperiment
from tests.identity.factories import make_tenant

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


async def test_a_lab_experiment_is_recorded_then_completed(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    created = await client.post(
        "/v1/track/lab",
        json={"experiment_type": "voice-cloning", "user_id": "usr_7", "input": {"text": "hi"}},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    lab = created.json()
    assert (lab["status"], lab["output"], lab["occurred_at"]) == (
        "started",
        {},
        "2026-11-20T10:00:00Z",
    )
    clock.advance(12)
    path = f"/v1/track/lab/{lab['id']}"
    update = {"status": "completed", "output": {"url": "s3://x"}, "processing_time_ms": 11800}
    hidden = await client.patch(path, json=update, headers=other.headers)
    assert hidden.status_code == 404, hidden.text

    done = await client.patch(path, json={**update, "tokens_used": 512}, headers=tenant.headers)

    assert done.status_code == 200, done.text
    shown = await client.get(path, headers=tenant.headers)
    assert shown.json() == done.json()
    assert (shown.json()["status"], shown.json()["output"], shown.json()["tokens_used"]) == (
        "completed",
        {"url": "s3://x"},
        512,
    )
    assert shown.json()["updated_at"] == "2026-11-20T10:00:12Z"
    assert shown.json()["input"] == {"text": "hi"}
    bad = await client.patch(path, json={"status": "exploded"}, headers=tenant.headers)
    assert bad.status_code == 422


async def test_a_lab_run_counts_tokens_past_32_bits(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    created = await client.post(
        "/v1/track/lab",
        json={"experiment_type": "voice-cloning", "tokens_used": 3_000_000_000},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    path = f"/v1/track/lab/{created.json()['id']}"
    updated = await client.patch(
        path, json={"status": "completed", "tokens_used": 2**63 - 1}, headers=tenant.headers
    )
    assert updated.status_code == 200, updated.text
    assert (await client.get(path, headers=tenant.headers)).json()["tokens_used"] == 2**63 - 1
    for body in ({"tokens_used": 2**63}, {"status": None}, {"output": None}):
        refused = await client.patch(path, json=body, headers=tenant.headers)
        assert refused.status_code == 422, (body, refused.text)
    async with app.state.db.sessionmaker() as session:
        tokens = await session.scalar(select(func.sum(LabExperiment.tokens_used)))
    assert tokens == 2**63 - 1
