"""A dashboard page reads its figures through the /v1 routes' own functions in process:
viewing it is not the organization's API traffic (the technical page's "API requests"
figure, ``api_request_counts``), while a /v1 request of the same session is."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.analytics.models import ApiRequestCount
from commbase.web.pages import PAGES
from tests.identity.factories import login, make_tenant


async def _api_requests(app: FastAPI, org_id: str) -> int:
    """The organization's counted /v1 requests, every count written out first."""
    await app.state.api_outcomes.flush()
    async with app.state.db.sessionmaker() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(ApiRequestCount.requests), 0)).where(
                ApiRequestCount.org_id == org_id
            )
        )
    return int(total or 0)


async def test_viewing_pages_is_not_counted_as_api_requests(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    token = await login(client, tenant.owner_email)
    before = await _api_requests(app, tenant.org_id)
    for slug in PAGES:
        page = await client.get(
            f"/dashboard/{slug}?range=7d", headers={"Cookie": f"cb_dash={token}"}
        )
        assert page.status_code == 200, slug
        assert 'class="card"' in page.text, slug  # its figures were read
    assert await _api_requests(app, tenant.org_id) == before
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert await _api_requests(app, tenant.org_id) == before + 1
