"""``commbase worker``: one process running every background loop beside API processes
that run none (COMMBASE_RUN_JOBS=false), stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from commbase.core.jobs import JobRun, Scheduler
from commbase.settings import Settings
from tests.conftest import TEST_SECRET, make_settings
from tests.identity.factories import make_tenant
from tests.webhooks.receiver import Receiver, running_receiver

COMMBASE = Path(sys.executable).with_name("commbase")
WAIT_S = 90.0  # a loaded two-core machine starts a process slowly


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    """The API process: no background loops, webhook URLs may point at 127.0.0.1."""
    return make_settings(database_url, redis_url, run_jobs=False, webhooks_allow_private_urls=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMBASE_")}
    env.update(
        {
            "COMMBASE_ENV": "test",
            "COMMBASE_DATABASE_URL": settings.database_url,
            "COMMBASE_SECRET_KEY": TEST_SECRET,
            # Set as API processes beside a worker have it: the worker runs its loops anyway.
            "COMMBASE_RUN_JOBS": "false",
            "COMMBASE_JOB_TICK_S": "0.5",
            "COMMBASE_SIMULATOR_SPEED": "1000",
            "COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
            "COMMBASE_LOG_LEVEL": "WARNING",
            "NO_COLOR": "1",
        }
    )
    if settings.redis_url:
        env["COMMBASE_REDIS_URL"] = settings.redis_url
    with log.open("wb") as out:
        return subprocess.Popen([str(COMMBASE), "worker"], env=env, stdout=out, stderr=out)


def _output(log: Path) -> str:
    return log.read_text(errors="replace")


async def _eventually(
    check: Callable[[], Awaitable[bool]], worker: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker exited:\n{_output(log)}"
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not done in {WAIT_S}s; the worker's output:\n{_output(log)}")


async def _scheduled_runs(app: FastAPI) -> set[str]:
    async with app.state.db.sessionmaker() as session:
        runs = await session.scalars(
            select(JobRun.job_name).where(
                JobRun.trigger == "schedule", JobRun.status == "succeeded"
            )
        )
        return set(runs)


async def test_a_worker_runs_every_loop_and_stops_on_sigterm(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, tmp_path: Path
) -> None:
    tenant = await make_tenant(app)
    endpoint = await client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "event_types": ["call.completed"]},
        headers=tenant.headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    receiver.secrets.append(endpoint.json()["secret"])
    wallet = await client.post("/v1/wallets", json={}, headers=tenant.headers)
    assert wallet.status_code == 201, wallet.text
    topped = await client.post(
        f"/v1/wallets/{wallet.json()['id']}/topups", json={"amount": 1000}, headers=tenant.headers
    )
    assert topped.status_code == 201, topped.text
    placed = await client.post("/v1/calls", json={"to": "+14155550142"}, headers=tenant.headers)
    assert placed.status_code == 201, placed.text
    call_url = f"/v1/calls/{placed.json()['id']}"
    log = tmp_path / "worker.log"

    worker = _start_worker(app.state.settings, log)
    try:

        async def call_completed() -> bool:
            call = (await client.get(call_url, headers=tenant.headers)).json()
            return bool(call["status"] == "completed")

        async def webhook_arrived() -> bool:
            return any(r.event_type == "call.completed" for r in receiver.received)

        async def jobs_ran() -> bool:
            return "identity.flush_usage" in await _scheduled_runs(app)

        # Effects dial the queued call, the simulator completes it, the dispatcher
        # delivers its webhook, the scheduler runs due jobs.
        await _eventually(call_completed, worker, log)
        await _eventually(webhook_arrived, worker, log)
        await _eventually(jobs_ran, worker, log)

        # A process manager may signal twice (the process and its group): still clean.
        worker.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, WAIT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    output = _output(log)
    assert code == 0, output
    assert "worker running" in output
    assert "worker stopped" in output
    assert "Traceback" not in output, output
    call = (await client.get(call_url, headers=tenant.headers)).json()
    assert call["provider_call_id"] is not None
    assert call["cost_amount"] > 0, call
    arrived = [r for r in receiver.received if r.event_type == "call.completed"]
    assert len(arrived) == 1
    assert arrived[0].verified_with == receiver.secrets
    assert arrived[0].body is not None
    assert arrived[0].body["data"]["id"] == placed.json()["id"]
    # The worker gave the scheduler's lease back as it stopped: another process leads
    # at once instead of waiting for the lease to expire.
    assert await app.state.lease.acquire(Scheduler.LEASE, holder="next-leader", ttl_s=30)
