"""Fixtures shared by the core kernel tests.

Backends that exist in-process and in Redis (rate limits, cache, leases) are
tested through fixtures parametrised over both; the Redis variant runs when
``COMMBASE_TEST_REDIS_URL`` is set and is skipped otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from typer.testing import CliRunner, Result

from commbase.app import create_app
from commbase.cli import app as cli
from commbase.core import ratelimit
from commbase.core.db import Database
from commbase.core.time import FrozenClock, use_clock
from commbase.settings import Settings, get_settings
from tests.conftest import REDIS_URL, TEST_SECRET

# 2023-11-14 22:13:20 UTC is a multiple of 60; 18 s into a one-minute window.
WINDOW_START = 1_700_000_000 - 1_700_000_000 % 60
NOW_IN_WINDOW = WINDOW_START + 18


class FakeTime:
    """Stands in for the ``time`` module inside ``commbase.core.ratelimit``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def limiter_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Pin the rate limiter's clock 18 s into a minute window, so windows never roll mid-test."""
    fake = FakeTime(NOW_IN_WINDOW)
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """A frozen clock installed as commbase's clock for the test."""
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    with use_clock(frozen):
        yield frozen


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and not REDIS_URL:
        pytest.skip("the Redis backend is tested when COMMBASE_TEST_REDIS_URL is set")
    return str(request.param)


@pytest.fixture
async def redis_client(backend: str) -> AsyncIterator[Redis | None]:
    """An emptied Redis database for the ``redis`` backend, else None."""
    if backend != "redis":
        yield None
        return
    assert REDIS_URL is not None
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A started application for ``settings``, shut down on exit."""
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """Check ``response`` is an RFC 9457 problem of ``status`` and ``code``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def invoke(args: list[str], *, input: str | None = None) -> Result:
    """Run the ``commbase`` command line; its output is what a user reads."""
    # The CLI runs its own event loop; keep it off the test's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(CliRunner().invoke, cli, args, input).result()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI pointed at the test's database."""
    monkeypatch.setenv("COMMBASE_DATABASE_URL", database_url)
    monkeypatch.setenv("COMMBASE_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("COMMBASE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
