"""A send is bounded: one deadline for the whole exchange, a cap on the bytes read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from commbase.webhooks.dispatcher import Dispatcher
from commbase.webhooks.sending import BODY_LIMIT
from tests.conftest import client_for
from tests.identity.factories import Tenant, make_tenant
from tests.webhooks.network import answer, endless_body, raw_server, trickle

DEADLINE_S = 1.0
# Far below the deadlines of the receivers here (20 s of trickling) and well above a
# loaded machine's scheduling noise.
BOUND_S = DEADLINE_S + 3.0


@pytest.fixture
async def quick(app: FastAPI) -> AsyncIterator[Dispatcher]:
    settings = app.state.settings.model_copy(update={"webhook_timeout_s": DEADLINE_S})
    worker = Dispatcher(app.state.db, settings, worker_id="quick")
    yield worker
    await worker.close()


async def queue_ping(app: FastAPI, tenant: Tenant, url: str) -> str:
    async with client_for(app) as client:
        created = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
        assert created.status_code == 201, created.text
        endpoint_id: str = created.json()["id"]
        ping = await client.post(f"/v1/webhooks/{endpoint_id}/test", headers=tenant.headers)
        assert ping.status_code == 202
        return endpoint_id


async def only_delivery(app: FastAPI, tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    async with client_for(app) as client:
        base = f"/v1/webhooks/{endpoint_id}/deliveries"
        [delivery] = (await client.get(base, headers=tenant.headers)).json()["data"]
        detail = await client.get(f"{base}/{delivery['id']}", headers=tenant.headers)
        shown: dict[str, Any] = detail.json()
        return shown


async def timed_send(worker: Dispatcher) -> float:
    started = time.monotonic()
    assert await worker.send_due() == 1
    return time.monotonic() - started


async def test_a_trickled_answer_times_out_at_the_deadline(app: FastAPI, quick: Dispatcher) -> None:
    """Status and headers at once, then one body byte every 0.25 s for 20 s."""
    head = [b"HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n"]
    with raw_server(trickle(head + [b"x"] * 80, 0.25)) as slow:
        tenant = await make_tenant(app)
        endpoint_id = await queue_ping(app, tenant, slow.url)
        took = await timed_send(quick)
        assert took < BOUND_S
        delivery = await only_delivery(app, tenant, endpoint_id)
        [attempt] = delivery["attempt_log"]
        assert (attempt["outcome"], attempt["succeeded"]) == ("timeout", False)
        assert attempt["error"] == "No complete answer within 1 s"
        assert attempt["response_status"] == 200  # what arrived before the deadline
        assert delivery["status"] == "pending"  # retried on the schedule
        # The server saw its peer go away at the deadline, not after its 20 s.
        assert await slow.first_served()
        assert slow.lasted_s[0] < BOUND_S


async def test_trickled_headers_time_out_too(app: FastAPI, quick: Dispatcher) -> None:
    status_line = b"HTTP/1.1 200 OK\r\n"
    with raw_server(trickle([bytes([b]) for b in status_line * 5], 0.25)) as slow:
        tenant = await make_tenant(app)
        endpoint_id = await queue_ping(app, tenant, slow.url)
        assert await timed_send(quick) < BOUND_S
        [attempt] = (await only_delivery(app, tenant, endpoint_id))["attempt_log"]
        assert (attempt["outcome"], attempt["response_status"]) == ("timeout", None)


async def test_a_huge_answer_is_not_read(app: FastAPI, quick: Dispatcher) -> None:
    """A 300 MB answer: the first 2 kB are kept, a little more is read, then the
    connection is closed."""
    declared = 300 * 1024 * 1024
    with raw_server(endless_body(declared)) as huge:
        tenant = await make_tenant(app)
        endpoint_id = await queue_ping(app, tenant, huge.url)
        assert await timed_send(quick) < BOUND_S
        assert await huge.first_served(), "the server is still sending"
        # Everything the server managed to send: what was read plus socket buffers.
        assert huge.bytes_sent < 16 * 1024 * 1024
        delivery = await only_delivery(app, tenant, endpoint_id)
        [attempt] = delivery["attempt_log"]
        assert (attempt["outcome"], attempt["response_status"]) == ("succeeded", 200)
        assert attempt["response_body"] == "a" * BODY_LIMIT
        assert delivery["status"] == "succeeded"


async def test_an_answer_with_nul_bytes_and_bad_utf8_is_recorded(
    app: FastAPI, quick: Dispatcher
) -> None:
    """PostgreSQL text cannot hold NUL: the attempt is still recorded, as text."""
    body = b"ok\x00\xff\xfe done"
    raw = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with raw_server(answer(raw)) as odd:
        tenant = await make_tenant(app)
        endpoint_id = await queue_ping(app, tenant, odd.url)
        await timed_send(quick)
        [attempt] = (await only_delivery(app, tenant, endpoint_id))["attempt_log"]
        assert (attempt["outcome"], attempt["response_status"]) == ("http_error", 500)
        assert attempt["response_body"] == "ok\ufffd\ufffd\ufffd done"


async def test_a_compressed_answer_is_not_inflated(app: FastAPI, quick: Dispatcher) -> None:
    body = b"\x1f\x8b" + b"\x00" * 30
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    with raw_server(answer(raw)) as zipped:
        tenant = await make_tenant(app)
        endpoint_id = await queue_ping(app, tenant, zipped.url)
        await timed_send(quick)
        [attempt] = (await only_delivery(app, tenant, endpoint_id))["attempt_log"]
        assert attempt["outcome"] == "succeeded"
        assert attempt["response_body"] == "(gzip-encoded answer not shown)"
