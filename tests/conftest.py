"""Test stacks: the whole suite runs on SQLite with in-process cache and rate
limits, and again on PostgreSQL with Redis when ``COMMBASE_TEST_DATABASE_URL``
and ``COMMBASE_TEST_REDIS_URL`` are set.

Isolation: each SQLite test gets its own copy of a migrated database file; each
PostgreSQL test starts from truncated tables and an empty Redis database. Tests
do not share one rolled-back connection, because several of them exercise
concurrent requests and separate processes, which need real commits.

Under pytest-xdist (``make test`` runs ``pytest -n``) each worker ``gwN`` has its
own PostgreSQL database, ``<name>_gwN`` next to the one the URL names (created
when missing), and its own Redis database index, the URL's index plus N.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, literal, make_url, select, text, union_all
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from commbase.app import create_app
from commbase.cli import migrate_database
from commbase.models import Base
from commbase.settings import Settings

# This process's pytest-xdist worker ("gw0", "gw1", ...); None when run without -n.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
REDIS_DATABASES = 16  # Redis' default number of databases


def worker_database_url(url: str | None, worker: str | None = WORKER) -> str | None:
    """The PostgreSQL URL of ``worker``'s own database (``<name>_gwN``)."""
    if url is None or worker is None:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


def worker_redis_url(url: str | None, worker: str | None = WORKER) -> str | None:
    """The Redis URL of ``worker``'s own database index (the URL's index plus N)."""
    if url is None or worker is None:
        return url
    parts = urlsplit(url)
    index = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    if index >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"{worker} would use Redis database {index}: lower the index in "
            f"COMMBASE_TEST_REDIS_URL ({url}) or run fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{index}"))


PG_URL = worker_database_url(os.environ.get("COMMBASE_TEST_DATABASE_URL"))
REDIS_URL = worker_redis_url(os.environ.get("COMMBASE_TEST_REDIS_URL"))
STACKS = ["sqlite"] + (["postgresql"] if PG_URL else [])
T = TypeVar("T")
TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def in_thread(func: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in another thread.

    Sync fixtures use this so they never touch the session's event loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(func())).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate_database, f"sqlite+aiosqlite:///{path}").result()
    return path


async def _create_database_if_missing(url: str) -> None:
    target = make_url(url)
    engine = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not found:
                await connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    assert PG_URL is not None
    url = PG_URL
    in_thread(lambda: _create_database_if_missing(url))

    async def recreate_schema() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    in_thread(recreate_schema)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate_database, url).result()
    return url


# Children before parents, so deleting respects every foreign key without superuser rights.
_TABLES_CHILDREN_FIRST = list(reversed(Base.metadata.sorted_tables))
# One round trip names the tables a test wrote to (a test touches a handful of ~90).
_FILLED_TABLES = union_all(
    *(
        select(literal(table.name)).select_from(table).limit(1).subquery().select()
        for table in _TABLES_CHILDREN_FIRST
    )
)
_RESTART_SEQUENCES = text(
    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
    "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
)


async def _reset_postgres(url: str) -> None:
    """Empty every table a test wrote to and restart the sequences. DELETE of the few filled
    tables instead of one TRUNCATE of all ~90: TRUNCATE makes new files for every table and
    syncs them at commit (1-2 s a test on a busy machine); this takes tens of milliseconds."""
    engine = create_async_engine(url)
    try:
        for attempt in range(3):
            try:
                async with engine.begin() as connection:
                    await connection.execute(text("SET LOCAL lock_timeout = '5s'"))
                    filled = set((await connection.execute(_FILLED_TABLES)).scalars())
                    for table in _TABLES_CHILDREN_FIRST:
                        if table.name in filled:
                            await connection.execute(delete(table))
                    await connection.execute(_RESTART_SEQUENCES)
                return
            except DBAPIError:
                if attempt == 2:
                    raise
                # A task an earlier test left on the session's event loop holds rows in an
                # open transaction, and that loop is blocked until this reset ends: end
                # the stranded transactions (they would write into the next test anyway).
                async with engine.connect() as connection:
                    await connection.execute(_END_STRANDED)
    finally:
        await engine.dispose()


_END_STRANDED = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND xact_start < now() - interval '4 seconds'"
)


async def _reset_redis(url: str) -> None:
    redis = Redis.from_url(url)
    await redis.flushdb()
    await redis.aclose()


@pytest.fixture
def database_url(stack: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if stack == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "commbase.db"
        shutil.copyfile(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_migrated")
    in_thread(lambda: _reset_postgres(url))
    return url


@pytest.fixture
def redis_url(stack: str) -> str | None:
    if stack == "sqlite" or not REDIS_URL:
        return None
    url = REDIS_URL
    in_thread(lambda: _reset_redis(url))
    return url


def module_stack(
    stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, label: str
) -> tuple[str, str | None]:
    """A fresh database (and emptied Redis) for a module-scoped app: the database URL and
    the Redis URL (None on SQLite)."""
    if stack == "sqlite":
        target = tmp_path_factory.mktemp(label) / "commbase.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}", None
    database_url: str = request.getfixturevalue("postgres_migrated")
    in_thread(lambda: _reset_postgres(database_url))
    if not REDIS_URL:
        return database_url, None
    redis_url = REDIS_URL
    in_thread(lambda: _reset_redis(redis_url))
    return database_url, redis_url


def make_settings(database_url: str, redis_url: str | None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": TEST_SECRET,
        "run_jobs": False,
        "log_level": "WARNING",
        # The shared Redis of a busy test machine can take longer than production's
        # 0.5 s; the outage tests (private redis-servers) set 0.5 themselves.
        "redis_timeout_s": 2.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def client_for(app: FastAPI, *, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://commbase.test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http
