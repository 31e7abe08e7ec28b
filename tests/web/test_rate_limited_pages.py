"""A dashboard page view counts once against the session's rate limit; past it the page
answers 429 with Retry-After (what the user's browser can act on), not a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.settings import Settings
from tests.conftest import client_for
from tests.identity.factories import login, make_tenant


@pytest.fixture
async def tight_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"session_rate_limit": 4}))
    async with LifespanManager(application):
        yield application


async def test_a_page_over_the_sessions_limit_answers_429(tight_app: FastAPI) -> None:
    tenant = await make_tenant(tight_app)
    async with client_for(tight_app) as client:
        token = await login(client, tenant.owner_email)
        headers = {"Cookie": f"cb_dash={token}"}
        statuses = []
        for _ in range(6):
            page = await client.get("/dashboard/executive?range=7d", headers=headers)
            statuses.append(page.status_code)
            if page.status_code != 200:
                break
        # One hit per view (its figures are read in process, not as /v1 requests).
        assert statuses == [200, 200, 200, 200, 429], statuses
        assert 500 not in statuses
        assert page.headers["content-type"].startswith("application/problem+json")
        assert int(page.headers["retry-after"]) >= 1
        assert page.json()["status"] == 429
