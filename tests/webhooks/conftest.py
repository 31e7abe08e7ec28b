"""Webhook tests run against an app whose settings let URLs reach 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from commbase.settings import Settings
from commbase.webhooks.dispatcher import Dispatcher
from tests.conftest import make_settings
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
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def dispatcher(app: FastAPI) -> AsyncIterator[Dispatcher]:
    worker = Dispatcher(app.state.db, app.state.settings, worker_id="test-worker")
    yield worker
    await worker.close()
