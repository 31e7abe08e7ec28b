"""Webhook tests run against an app whose settings let URLs reach 127.0.0.1
(``app``), or against the production default that refuses them (``strict_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.settings import Settings
from commbase.webhooks.dispatcher import Dispatcher
from commbase.webhooks.routes import url_resolver
from tests.conftest import make_settings
from tests.webhooks.network import FakeDns
from tests.webhooks.receiver import Receiver, running_receiver


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        webhooks_allow_private_urls=True,
        webhook_disable_after_failures=2,
    )


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The production default: webhook URLs must be public."""
    strict = make_settings(settings.database_url, settings.redis_url)
    application = create_app(strict)
    async with LifespanManager(application):
        yield application


@pytest.fixture
def dns() -> FakeDns:
    """A scripted DNS; ``use_dns(app, dns)`` makes an app check URLs with it."""
    return FakeDns()


def use_dns(app: FastAPI, dns: FakeDns) -> None:
    app.dependency_overrides[url_resolver] = lambda: dns


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def dispatcher(app: FastAPI) -> AsyncIterator[Dispatcher]:
    worker = Dispatcher(app.state.db, app.state.settings, worker_id="test-worker")
    yield worker
    await worker.close()
