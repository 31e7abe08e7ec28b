"""Live sockets while Redis or the database cannot serve: the handshake answers 503 (a
problem with ``Retry-After``, which WebSocket clients and carriers see as a failed
handshake to retry) instead of a 500, logged once as a warning."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from commbase.app import create_app
from commbase.calls.live.twiml import relay_url
from commbase.identity import tokens
from commbase.settings import Settings
from tests.calls.factories import fund_wallet, place
from tests.conftest import make_settings
from tests.identity.factories import make_tenant

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://api.example.test"


def closed_port() -> int:
    """A local port nobody listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Redis is configured (several API processes) but nothing answers at its address.
    return make_settings(
        database_url,
        f"redis://127.0.0.1:{closed_port()}/0",
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE_URL,
        redis_timeout_s=0.5,
    )


def signed(call_id: str) -> dict[str, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        relay_url(PUBLIC_BASE_URL, call_id), {}
    )
    return {"X-Twilio-Signature": signature}


async def refused(url: str, headers: dict[str, str]) -> httpx.Response:
    """The handshake's HTTP answer (the socket must not open)."""
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url, additional_headers=headers, open_timeout=10):
            pytest.fail("the socket opened")
    response = refusal.value.response
    return httpx.Response(
        response.status_code,
        headers=list(response.headers.raw_items()),
        content=bytes(response.body or b""),
    )


def assert_unavailable(answer: httpx.Response, path: str) -> None:
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "2"
    problem = orjson.loads(answer.content)
    assert problem["type"] == "/problems/service-unavailable"
    assert problem["status"] == 503
    assert problem["instance"] == path


def refusals(logged: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logged if e["event"] == "live socket refused: a dependency is unavailable"]


async def test_sockets_answer_503_while_redis_is_away(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(client, tenant.headers, "+14155551234", live_agent=True)
    assert placed.status_code == 201, placed.text
    call_id = placed.json()["id"]

    agent_path = f"/v1/calls/{call_id}/live"
    relay_path = f"/v1/providers/twilio/relay/{call_id}"
    with capture_logs() as logged:
        agent = await refused(f"ws://{server}{agent_path}", tenant.headers)
        carrier = await refused(f"ws://{server}{relay_path}", signed(call_id))
    assert_unavailable(agent, agent_path)
    assert_unavailable(carrier, relay_path)
    # Once each, as a warning naming the socket; no unhandled error.
    [first, second] = refusals(logged)
    assert (first["log_level"], first["path"], first["accepted"]) == ("warning", agent_path, False)
    assert (second["path"], second["accepted"]) == (relay_path, False)
    assert "ConnectionError" in str(first["error"])
    assert not [e for e in logged if e["log_level"] in ("error", "critical")]


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``host:port`` of a uvicorn server running ``app``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event)
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_sockets_answer_503_while_the_database_is_away(stack: str, tmp_path: Path) -> None:
    # Nothing answers at the database's address (SQLite: a file that cannot be opened).
    database_url = (
        f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'commbase.db'}"
        if stack == "sqlite"
        else f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/commbase"
    )
    settings = make_settings(
        database_url, None, twilio_auth_token=AUTH_TOKEN, public_base_url=PUBLIC_BASE_URL
    )
    app = create_app(settings)
    call_id = "cal_" + "0" * 26
    agent_path = f"/v1/calls/{call_id}/live"
    relay_path = f"/v1/providers/twilio/relay/{call_id}"
    async with LifespanManager(app), serving(app) as server:
        with capture_logs() as logged:
            agent = await refused(
                f"ws://{server}{agent_path}",
                # Well formed (its checksum holds): only the database can tell it is unknown.
                {"Authorization": f"Bearer {tokens.generate('cb_test_').token}"},
            )
            carrier = await refused(f"ws://{server}{relay_path}", signed(call_id))
    assert_unavailable(agent, agent_path)
    assert_unavailable(carrier, relay_path)
    assert [e["path"] for e in refusals(logged)] == [agent_path, relay_path]
    assert not [e for e in logged if e["log_level"] in ("error", "critical")]
