"""Small builders for bookings, leads and webinars, through the API."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.core.outbox import OutboxEvent
from tests.identity.factories import Tenant

PROBLEM = "application/problem+json"


async def created(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def ok(response_awaitable: Any, status: int = 200) -> dict[str, Any]:
    response: httpx.Response = await response_awaitable
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}", body
    return body


async def events_of(app: FastAPI, tenant: Tenant, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The tenant's outbox events whose type starts with ``prefix``, oldest first."""
    async with app.state.db.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.org_id == tenant.org_id, OutboxEvent.type.startswith(prefix))
            .order_by(OutboxEvent.id)
        )
        return [(row.type, row.payload) for row in rows]


async def run_job(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    """Run a per-organization job now for the tenant, as its API allows."""
    response = await client.post(f"/v1/jobs/{name}/runs", headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def metric_totals(
    client: httpx.AsyncClient, headers: dict[str, str], *metrics: str
) -> dict[str, Any]:
    """Each metric's total over the last day (which holds everything a test made)."""
    response = await client.get(
        "/v1/analytics/series",
        params={"metrics": ",".join(metrics), "interval": "day", "compare": "false"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return {entry["metric"]: entry["total"] for entry in response.json()["series"]}
