"""One started app per test module (both stacks), with roomy rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from tests.conftest import client_for, make_settings, module_stack
from tests.identity.factories import Tenant, make_tenant

ROOMY = {"limit": 1_000_000, "window_s": 60}


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    tenant: Tenant
    other: Tenant


@pytest.fixture(scope="module")
async def world(
    stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    database_url, redis_url = module_stack(stack, request, tmp_path_factory, "messaging")
    settings = make_settings(
        database_url,
        redis_url,
        rate_limit_tiers={"standard": ROOMY, "free": ROOMY, "premium": ROOMY},
        session_rate_limit=ROOMY["limit"],
    )
    app = create_app(settings)
    async with LifespanManager(app), client_for(app) as client:
        yield World(app, client, await make_tenant(app), await make_tenant(app))
