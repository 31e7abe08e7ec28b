"""A serving process's start-up warm-up (``create_served_app``, ``commbase.warmup``):
it runs every dashboard page's reads once, writes nothing, changes no page, and a
failure or timeout leaves a process that serves (``/readyz`` says so)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import CacheStats

from commbase import warmup
from commbase.app import create_served_app
from commbase.core import jobs
from commbase.core.db import Base
from commbase.identity.models import Organization
from commbase.settings import Settings
from commbase.web import warmup as web_warmup
from commbase.web.pages import PAGES
from tests.conftest import client_for
from tests.identity.factories import login, make_tenant


async def _flush_counted(app: FastAPI) -> None:
    """Write ``app``'s counted usage and API outcomes (buffered in the process)."""
    await app.state.usage.flush()
    await app.state.api_outcomes.flush()


async def _every_row(app: FastAPI) -> dict[str, list[Any]]:
    """Every table's rows, in primary-key order (``app``'s counted usage written first)."""
    await _flush_counted(app)
    rows: dict[str, list[Any]] = {}
    async with app.state.db.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            result = await session.execute(select(table).order_by(*order))
            rows[table.name] = [tuple(row) for row in result]
    return rows


async def _pages(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    pages = {}
    for slug in PAGES:
        page = await client.get(f"/dashboard/{slug}", headers={"Cookie": f"cb_dash={token}"})
        assert page.status_code == 200, slug
        pages[slug] = page.text
    return pages


async def test_start_up_warms_every_page_writing_nothing_and_pages_are_unchanged(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await make_tenant(app)
    token = await login(client, tenant.owner_email)
    wallet = await client.post(
        "/v1/wallets", json={"owner_type": "organization"}, headers=tenant.headers
    )
    assert wallet.status_code == 201, wallet.text
    topped = await client.post(
        f"/v1/wallets/{wallet.json()['id']}/topups",
        json={"amount": 2500},
        headers=tenant.headers,
    )
    assert topped.status_code in (200, 201), topped.text
    # The two requests' API outcomes are written first: the technical page counts them,
    # and both the served pages and "after" are taken once they are written.
    await _flush_counted(app)
    before = await _pages(client, token)
    rows = await _every_row(app)

    served = create_served_app(settings)
    async with LifespanManager(served, startup_timeout=60):
        assert served.state.warmup == "ok"
        assert await _every_row(app) == rows  # the warm-up wrote nothing
        async with client_for(served) as served_client:
            ready = await served_client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["warmup"] == "ok"
            shown = await _pages(served_client, token)
    after = await _pages(client, token)  # a range ending at the next minute may move on
    assert "25.00 " in shown["executive"]  # the top-up: pages show the organization's figures
    for slug in PAGES:
        assert 'class="card"' in shown[slug], slug
        assert shown[slug] in (before[slug], after[slug]), slug


async def test_a_failed_or_slow_warm_up_is_reported_and_the_process_serves(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_app: FastAPI) -> list[str]:
        raise RuntimeError("no")

    async def slow(_app: FastAPI) -> list[str]:
        await asyncio.sleep(30)
        return []

    for replacement, shown in ((broken, "error: RuntimeError"), (slow, "error: TimeoutError")):
        monkeypatch.setattr(warmup, "warm_up_pages", replacement)
        served = create_served_app(settings.model_copy(update={"warmup_timeout_s": 0.2}))
        async with LifespanManager(served, startup_timeout=20):
            assert served.state.warmup == shown
            async with client_for(served) as served_client:
                ready = await served_client.get("/readyz")
                assert ready.status_code == 200
                assert ready.json()["status"] == "degraded"
                assert ready.json()["checks"]["warmup"] == shown
                assert (await served_client.get("/dashboard/login")).status_code == 200


async def test_warm_up_can_be_turned_off(app: FastAPI, settings: Settings) -> None:
    served = create_served_app(settings.model_copy(update={"warmup": False}))
    async with LifespanManager(served):
        assert not hasattr(served.state, "warmup")
        async with client_for(served) as served_client:
            ready = await served_client.get("/readyz")
            assert "warmup" not in ready.json()["checks"]


async def test_zones_to_warm_are_utc_and_one_zone_of_each_other_offset_kind(
    app: FastAPI,
) -> None:
    zones = ("Europe/Oslo", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "Mars/Base")
    for timezone in zones:
        tenant = await make_tenant(app)
        async with app.state.db.sessionmaker() as session:
            await session.execute(
                update(Organization)
                .where(Organization.id == tenant.org_id)
                .values(timezone=timezone)
            )
            await session.commit()
    request = Request({"type": "http", "app": app, "state": {}, "headers": []})
    # Whole hours (UTC, Oslo), half past (St John's -3:30 before Kolkata +5:30 by
    # name), a quarter to (Kathmandu +5:45); a zone this machine does not know is passed.
    assert await web_warmup.zones_to_warm(request) == [
        "UTC",
        "America/St_Johns",
        "Asia/Kathmandu",
    ]


async def test_a_half_hour_zones_first_view_compiles_no_analytics_statement(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """A day in Asia/Kolkata begins at :30 past an hour: its edges read quarter-hour
    rollups that a UTC day's never do, so the warm-up builds the pages in that zone too
    (without it, the first view here compiled 8-16 statements of its own)."""
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == tenant.org_id)
            .values(timezone="Asia/Kolkata")
        )
        await session.commit()
    token = await login(client, tenant.owner_email)
    # Sealed hours (the rollup has run): a day's edges are read from rollups.
    await jobs.run_job(app.state.db, jobs.get_job("analytics.rollup"), trigger="manual")
    served = create_served_app(settings)
    compiled: list[str] = []

    def count(_c: Any, _cu: Any, statement: str, _p: Any, context: Any, _m: bool) -> None:
        if getattr(context, "cache_hit", None) is CacheStats.CACHE_MISS:
            compiled.append(statement)

    async with LifespanManager(served, startup_timeout=60):
        assert served.state.warmup == "ok"
        async with client_for(served) as served_client:
            event.listen(Engine, "before_cursor_execute", count)
            try:
                page = await served_client.get(
                    "/dashboard/executive", headers={"Cookie": f"cb_dash={token}"}
                )
            finally:
                event.remove(Engine, "before_cursor_execute", count)
    assert page.status_code == 200
    assert [s for s in compiled if "metric_rollups" in s] == []
