"""Builders for plans, customers, subscriptions and invoices, through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.billing.subscriptions import lifecycle
from commbase.core.time import utcnow
from tests.conftest import client_for, make_settings, module_stack


@pytest.fixture(scope="module")
async def billing_app(
    stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """One app (and database) for a test module; each test makes its own tenants."""
    database_url, redis_url = module_stack(stack, request, tmp_path_factory, "recurring")
    app = create_app(make_settings(database_url, redis_url))
    async with LifespanManager(app):
        yield app


@pytest.fixture(name="app")
async def module_app(billing_app: FastAPI) -> FastAPI:
    """Replaces ``app`` in the modules that import it: the module's shared app."""
    return billing_app


@pytest.fixture(name="client")
async def module_client(billing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(billing_app) as http:
        yield http


async def created(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def plan(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, amount: int, **body: Any
) -> dict[str, Any]:
    body = {"name": code.title(), "currency": "USD", **body}
    return await created(client, headers, "/v1/billing/plans", code=code, amount=amount, **body)


async def addon(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, amount: int, **body: Any
) -> dict[str, Any]:
    body = {"name": code.title(), "currency": "USD", **body}
    return await created(client, headers, "/v1/billing/addons", code=code, amount=amount, **body)


async def contact_customer(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "Dana Buyer", **body: Any
) -> dict[str, Any]:
    contact = await created(client, headers, "/v1/contacts", name=name)
    return await created(
        client,
        headers,
        "/v1/billing/customers",
        kind="contact",
        reference_id=contact["id"],
        name=name,
        **body,
    )


async def subscribe(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, plan_id: str, **body: Any
) -> dict[str, Any]:
    return await created(
        client,
        headers,
        "/v1/billing/subscriptions",
        customer_id=customer_id,
        plan_id=plan_id,
        **body,
    )


async def invoices_of(
    client: httpx.AsyncClient, headers: dict[str, str], subscription_id: str
) -> list[dict[str, Any]]:
    """The subscription's invoices, oldest first, with their lines."""
    listed = await client.get(
        f"/v1/billing/invoices?subscription_id={subscription_id}&limit=100", headers=headers
    )
    assert listed.status_code == 200, listed.text
    result = []
    for summary in reversed(listed.json()["data"]):
        full = await client.get(f"/v1/billing/invoices/{summary['id']}", headers=headers)
        result.append(full.json())
    return result


async def renew(app: FastAPI, org_id: str) -> int:
    """Run the renewal job's work for one organization now (at the installed clock's time)."""
    return await lifecycle.renew_due(app.state.db, now=utcnow(), org_id=org_id)


async def movements(
    client: httpx.AsyncClient, headers: dict[str, str], subscription_id: str | None = None
) -> list[dict[str, Any]]:
    """MRR movements, oldest first."""
    query = f"&subscription_id={subscription_id}" if subscription_id else ""
    response = await client.get(f"/v1/billing/mrr-movements?limit=100{query}", headers=headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))
