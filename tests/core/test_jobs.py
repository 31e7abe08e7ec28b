"""Jobs: every run recorded, due jobs run once per cron slot by the lease holder,
and run on demand from the CLI and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select
from structlog.testing import capture_logs

from commbase.core import jobs
from commbase.core.db import Database
from commbase.core.errors import NotFound
from commbase.core.jobs import JobContext, JobRun, Scheduler, run_job
from commbase.core.leases import DatabaseLease, Lease, RedisLease
from commbase.core.time import FrozenClock, use_clock
from tests.conftest import REDIS_URL
from tests.core.conftest import assert_problem, invoke
from tests.identity.factories import PASSWORD, auth, make_tenant

TEN_THIRTY = datetime(2030, 1, 7, 10, 30, tzinfo=UTC)


class Calls:
    def __init__(self) -> None:
        self.seen: list[datetime] = []


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """A registry holding only this module's jobs, for this test only."""
    monkeypatch.setattr(jobs, "_registry", {})
    calls = Calls()

    @jobs.job("tests.hourly", schedule="0 * * * *", description="Counts to three")
    async def hourly(ctx: JobContext) -> int:
        calls.seen.append(ctx.now)
        jobs_clock = ctx.services.get("clock")
        if isinstance(jobs_clock, FrozenClock):
            jobs_clock.advance(5)  # the job takes five seconds
        return 3

    @jobs.job("tests.broken", schedule="0 0 1 1 *")
    async def broken(ctx: JobContext) -> int:
        raise RuntimeError("the carrier API is down")

    return calls


async def all_runs(database: Database) -> list[JobRun]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(JobRun).order_by(JobRun.started_at)))


async def test_run_is_recorded_with_start_end_status_and_rows(
    database: Database, registry: Calls
) -> None:
    clock = FrozenClock(TEN_THIRTY)
    with use_clock(clock):
        run = await run_job(database, jobs.get_job("tests.hourly"), services={"clock": clock})

    [stored] = await all_runs(database)
    assert stored.id == run.id
    assert stored.id.startswith("run_")
    assert (stored.job_name, stored.trigger, stored.status) == (
        "tests.hourly",
        "manual",
        "succeeded",
    )
    assert stored.rows == 3
    assert stored.error is None
    assert stored.started_at == TEN_THIRTY
    assert stored.finished_at is not None
    assert (stored.finished_at - stored.started_at).total_seconds() == 5
    assert registry.seen == [TEN_THIRTY]


async def test_failing_job_is_recorded_as_failed(database: Database, registry: Calls) -> None:
    with capture_logs() as logged:
        run = await run_job(database, jobs.get_job("tests.broken"))

    [stored] = await all_runs(database)
    assert run.status == stored.status == "failed"
    assert stored.rows is None
    assert stored.finished_at is not None
    # What the API and CLI show: the error's type and message; the traceback (with
    # its file paths) goes to the log only.
    assert stored.error == "RuntimeError: the carrier API is down"
    [failure] = [entry for entry in logged if entry["event"] == "job failed"]
    assert failure["job"] == "tests.broken"
    assert isinstance(failure["exc_info"], RuntimeError)


async def test_a_long_error_message_is_cut(database: Database, registry: Calls) -> None:
    @jobs.job("tests.verbose", schedule="0 0 1 1 *")
    async def verbose(ctx: JobContext) -> int:
        raise ValueError("x" * 5000)

    run = await run_job(database, jobs.get_job("tests.verbose"))

    assert run.error is not None
    assert run.error.startswith("ValueError: xxx")
    assert len(run.error) == jobs.MAX_ERROR_CHARS


async def test_only_a_per_organization_job_runs_for_one_organization(
    database: Database, registry: Calls
) -> None:
    seen: list[str | None] = []

    @jobs.job("tests.per_org", schedule="0 * * * *", per_organization=True)
    async def per_org(ctx: JobContext) -> int:
        seen.append(ctx.org_id)
        return 1

    run = await run_job(database, jobs.get_job("tests.per_org"), org_id="org_one")
    everyone = await run_job(database, jobs.get_job("tests.per_org"))

    assert seen == ["org_one", None]
    assert (run.org_id, everyone.org_id) == ("org_one", None)
    with pytest.raises(ValueError, match="every organization"):
        await run_job(database, jobs.get_job("tests.hourly"), org_id="org_one")
    assert set(jobs.tenant_jobs()) == {"tests.per_org"}


async def test_unknown_job_is_not_found(registry: Calls) -> None:
    with pytest.raises(NotFound, match=r"tests\.nope"):
        jobs.get_job("tests.nope")


def test_invalid_cron_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        jobs.job("tests.bad", schedule="every tuesday")


# --------------------------------------------------------------------- scheduler


def scheduler(database: Database, lease: Lease, holder: str) -> Scheduler:
    runner = Scheduler(database, lease, tick_s=15)
    runner.holder = holder
    return runner


async def test_tick_runs_a_due_job_once_per_cron_slot(
    database: Database, registry: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(jobs._registry, "tests.broken")
    runner = scheduler(database, DatabaseLease(database), "a")
    clock = FrozenClock(TEN_THIRTY)
    with use_clock(clock):
        [first] = await runner.tick()
        assert first.scheduled_for == TEN_THIRTY.replace(minute=0)
        assert first.trigger == "schedule"

        clock.advance(60)
        assert await runner.tick() == []
        clock.set(TEN_THIRTY.replace(minute=59, second=59))
        assert await runner.tick() == []

        clock.set(TEN_THIRTY.replace(hour=11, minute=0))
        [second] = await runner.tick()
        assert second.scheduled_for == TEN_THIRTY.replace(hour=11, minute=0)
        assert await runner.tick() == []

        # After four hours down, one run for the latest missed slot, not four.
        clock.set(TEN_THIRTY.replace(hour=15, minute=20))
        [third] = await runner.tick()
        assert third.scheduled_for == TEN_THIRTY.replace(hour=15, minute=0)
        assert await runner.tick() == []

    assert len(registry.seen) == 3
    assert [r.status for r in await all_runs(database)] == ["succeeded"] * 3


async def test_manual_runs_do_not_move_the_schedule(
    database: Database, registry: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(jobs._registry, "tests.broken")
    runner = scheduler(database, DatabaseLease(database), "a")
    with use_clock(FrozenClock(TEN_THIRTY)):
        await runner.tick()
        await run_job(database, jobs.get_job("tests.hourly"))
        assert await runner.tick() == []
    with use_clock(FrozenClock(TEN_THIRTY.replace(hour=11, minute=1))):
        assert len(await runner.tick()) == 1


@pytest.fixture(params=["database", "redis"])
async def lease(request: pytest.FixtureRequest, database: Database) -> AsyncIterator[Lease]:
    if request.param == "database":
        yield DatabaseLease(database)
        return
    if not REDIS_URL:
        pytest.skip("the Redis lease is tested when COMMBASE_TEST_REDIS_URL is set")
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    yield RedisLease(redis)
    await redis.flushdb()
    await redis.aclose()


async def test_only_the_lease_holder_runs_jobs(
    database: Database, registry: Calls, lease: Lease, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(jobs._registry, "tests.broken")
    first = scheduler(database, lease, "replica-1")
    second = scheduler(database, lease, "replica-2")
    clock = FrozenClock(TEN_THIRTY)
    with use_clock(clock):
        ran = [await first.tick(), await second.tick()]
        assert [len(r) for r in ran] == [1, 0]

        # The leader renews its lease on every tick, so at the next slot only it runs.
        clock.set(TEN_THIRTY.replace(minute=59, second=30))
        assert await first.tick() == []
        clock.set(TEN_THIRTY.replace(hour=11, minute=0))
        ran = [await second.tick(), await first.tick()]
        assert [len(r) for r in ran] == [0, 1]

        # The leader stops and hands over at once.
        await first.stop()
        clock.set(TEN_THIRTY.replace(hour=12, minute=0))
        assert len(await second.tick()) == 1

    assert len(registry.seen) == 3
    assert len(await all_runs(database)) == 3


async def test_a_dead_leaders_lease_expires(
    database: Database, registry: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "_registry", {})
    ran_at: list[datetime] = []

    @jobs.job("tests.minutely", schedule="* * * * *")
    async def minutely(ctx: JobContext) -> int:
        ran_at.append(ctx.now)
        return 0

    lease = DatabaseLease(database)
    leader, standby = scheduler(database, lease, "a"), scheduler(database, lease, "b")
    clock = FrozenClock(TEN_THIRTY.replace(second=30))
    with use_clock(clock):
        assert len(await leader.tick()) == 1
        # The leader dies without releasing. Its lease lasts four ticks (60 s):
        # the 10:31 slot is due, but only the leader may run it until then.
        clock.advance(45)
        assert await standby.tick() == []
        clock.advance(16)
        [run] = await standby.tick()
        assert run.scheduled_for == TEN_THIRTY.replace(minute=31)

    assert ran_at == [TEN_THIRTY.replace(second=30), TEN_THIRTY.replace(minute=31, second=31)]


async def test_a_lease_store_that_fails_means_not_leading_and_the_ticks_go_on(
    database: Database, registry: Calls, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delitem(jobs._registry, "tests.broken")
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/directory/x.db")
    runner = scheduler(database, DatabaseLease(unreachable), "a")
    with use_clock(FrozenClock(TEN_THIRTY)), capture_logs() as logged:
        assert await runner.tick() == []
        assert await runner.tick() == []
        await runner.stop()  # nothing to release: it says so and stops
        runner.lease = DatabaseLease(database)
        [run] = await runner.tick()
    await unreachable.dispose()
    assert run.status == "succeeded"
    events = [entry["event"] for entry in logged if "lease" in entry["event"]]
    assert events == [
        "scheduler lease unavailable: not leading",  # once, not per tick
        "scheduler lease not released",
        "scheduler lease store answers again",
    ]


# ------------------------------------------------------------------------- CLI


async def test_cli_runs_a_job_and_lists_it(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    tenant = await make_tenant(app)
    login = await client.post(
        "/v1/auth/login", json={"email": tenant.owner_email, "password": PASSWORD}
    )
    token = login.json()["token"]
    assert (await client.post("/v1/auth/logout", headers=auth(token))).status_code == 204

    before = invoke(["jobs", "list"])
    assert before.exit_code == 0, before.output
    assert "identity.expire_sessions" in before.output

    result = invoke(["jobs", "run", "identity.expire_sessions"])

    assert result.exit_code == 0, result.output
    # The signed-out session was the one row to remove.
    assert "identity.expire_sessions: succeeded rows=1" in result.output
    listed = invoke(["jobs", "list"])
    row = next(line for line in listed.output.splitlines() if "identity.expire_sessions" in line)
    assert "succeeded" in row
    assert "0 * * * *" in row
    assert row.split("│")[-2].strip() == "1"


async def test_cli_refuses_an_unknown_job(cli_env: None) -> None:
    result = invoke(["jobs", "run", "identity.nope"])

    assert result.exit_code == 2
    assert "No job named 'identity.nope'" in result.output


# ------------------------------------------------------------------------- API


@pytest.fixture
def tenant_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str | None]]:
    """A global job and a per-organization one that records whose rows it touched."""
    monkeypatch.setattr(jobs, "_registry", {})
    touched: dict[str, list[str | None]] = {"everyone": [], "per_org": []}

    @jobs.job("tests.everyone", schedule="0 * * * *")
    async def everyone(ctx: JobContext) -> int:
        touched["everyone"].append(ctx.org_id)
        return 7

    @jobs.job("tests.per_org", schedule="0 2 * * *", per_organization=True)
    async def per_org(ctx: JobContext) -> int:
        """One organization's work."""
        touched["per_org"].append(ctx.org_id)
        return 2

    @jobs.job("tests.per_org_broken", schedule="0 3 * * *", per_organization=True)
    async def broken(ctx: JobContext) -> int:
        raise KeyError(f"nothing for {ctx.org_id}")

    return touched


async def test_a_tenant_runs_a_per_organization_job_for_itself(
    app: FastAPI, client: httpx.AsyncClient, tenant_registry: dict[str, list[str | None]]
) -> None:
    tenant = await make_tenant(app)

    response = await client.post("/v1/jobs/tests.per_org/runs", headers=tenant.headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("run_")
    assert (body["job"], body["trigger"], body["status"], body["rows"]) == (
        "tests.per_org",
        "manual",
        "succeeded",
        2,
    )
    assert tenant_registry["per_org"] == [tenant.org_id]
    listed = await client.get("/v1/jobs", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    assert [j["name"] for j in listed.json()["data"]] == ["tests.per_org", "tests.per_org_broken"]
    entry = listed.json()["data"][0]
    assert (entry["schedule"], entry["description"]) == ("0 2 * * *", "One organization's work.")
    assert entry["last_run"]["id"] == body["id"]
    runs = await client.get("/v1/jobs/tests.per_org/runs", headers=tenant.headers)
    assert runs.status_code == 200, runs.text
    assert [r["id"] for r in runs.json()["data"]] == [body["id"]]


async def test_global_jobs_are_operator_only(
    app: FastAPI, client: httpx.AsyncClient, tenant_registry: dict[str, list[str | None]]
) -> None:
    tenant = await make_tenant(app)

    response = await client.post("/v1/jobs/tests.everyone/runs", headers=tenant.headers)
    runs = await client.get("/v1/jobs/tests.everyone/runs", headers=tenant.headers)

    # As unknown as a job that does not exist, and never run.
    body = assert_problem(response, 404, "not-found")
    assert body["detail"] == "No job named 'tests.everyone'"
    assert_problem(runs, 404, "not-found")
    assert tenant_registry["everyone"] == []
    listed = (await client.get("/v1/jobs", headers=tenant.headers)).json()["data"]
    assert "tests.everyone" not in [j["name"] for j in listed]
    assert await all_runs(app.state.db) == []


async def test_a_tenant_sees_only_its_own_runs_and_errors_without_tracebacks(
    app: FastAPI, client: httpx.AsyncClient, tenant_registry: dict[str, list[str | None]]
) -> None:
    alpha, bravo = await make_tenant(app), await make_tenant(app)
    # The scheduler's run over every organization, and Bravo's own runs.
    await run_job(app.state.db, jobs.get_job("tests.per_org"), trigger="schedule")
    await run_job(app.state.db, jobs.get_job("tests.per_org_broken"), trigger="schedule")
    bravo_run = await client.post("/v1/jobs/tests.per_org/runs", headers=bravo.headers)
    bravo_failed = await client.post("/v1/jobs/tests.per_org_broken/runs", headers=bravo.headers)
    assert bravo_run.status_code == bravo_failed.status_code == 201

    alpha_jobs = (await client.get("/v1/jobs", headers=alpha.headers)).json()["data"]
    alpha_runs = await client.get("/v1/jobs/tests.per_org/runs", headers=alpha.headers)
    bravo_jobs = (await client.get("/v1/jobs", headers=bravo.headers)).json()["data"]

    assert [j["last_run"] for j in alpha_jobs] == [None, None]
    assert alpha_runs.json() == {"data": [], "next_cursor": None}
    assert [j["last_run"]["id"] for j in bravo_jobs] == [
        bravo_run.json()["id"],
        bravo_failed.json()["id"],
    ]
    failed = bravo_failed.json()
    assert failed["status"] == "failed"
    assert failed["error"] == f"KeyError: 'nothing for {bravo.org_id}'"
    assert "Traceback" not in bravo_jobs[1]["last_run"]["error"]
    assert tenant_registry["per_org"] == [None, bravo.org_id]


async def test_a_tenants_run_list_pages(
    app: FastAPI, client: httpx.AsyncClient, tenant_registry: dict[str, list[str | None]]
) -> None:
    tenant = await make_tenant(app)
    made = []
    for _ in range(3):
        response = await client.post("/v1/jobs/tests.per_org/runs", headers=tenant.headers)
        made.append(response.json()["id"])

    first = await client.get("/v1/jobs/tests.per_org/runs?limit=2", headers=tenant.headers)
    cursor = first.json()["next_cursor"]
    second = await client.get(
        f"/v1/jobs/tests.per_org/runs?limit=2&cursor={cursor}", headers=tenant.headers
    )

    assert [r["id"] for r in first.json()["data"]] == made[::-1][:2]
    assert [r["id"] for r in second.json()["data"]] == made[:1]
    assert second.json()["next_cursor"] is None


async def test_unknown_job_through_the_api_is_a_404_problem(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)

    response = await client.post("/v1/jobs/identity.nope/runs", headers=tenant.headers)

    body = assert_problem(response, 404, "not-found")
    assert "identity.nope" in str(body["detail"])


async def test_the_real_global_jobs_are_not_a_tenants(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Folding every organization's rollups or sweeping every session is the operator's."""
    tenant = await make_tenant(app)
    for name in ("analytics.rollup", "identity.expire_sessions", "identity.flush_usage"):
        response = await client.post(f"/v1/jobs/{name}/runs", headers=tenant.headers)
        assert_problem(response, 404, "not-found")
    listed = (await client.get("/v1/jobs", headers=tenant.headers)).json()["data"]
    assert "privacy.retention" in [j["name"] for j in listed]
    assert not {"analytics.rollup", "identity.expire_sessions"} & {j["name"] for j in listed}
    assert await all_runs(app.state.db) == []


async def test_running_a_job_needs_the_jobs_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    limited = await client.post(
        "/v1/api-keys", json={"name": "reader", "scopes": ["org:read"]}, headers=tenant.headers
    )
    assert limited.status_code == 201, limited.text

    response = await client.post(
        "/v1/jobs/privacy.retention/runs", headers=auth(limited.json()["key"])
    )

    body = assert_problem(response, 403, "scope-missing")
    assert body["required"] == ["jobs:run"]
    assert (await client.get("/v1/jobs", headers=auth(limited.json()["key"]))).status_code == 403
