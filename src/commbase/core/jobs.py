"""Named jobs on cron schedules, run by one leader at a time, every run recorded.

A domain declares its jobs in its ``jobs.py``::

    @job("identity.expire_login_sessions", schedule="0 * * * *")
    async def expire_login_sessions(ctx: JobContext) -> int:
        ...  # returns how many rows it changed

The scheduler loop in each API process (or ``commbase jobs worker``) takes the
``scheduler`` lease before running anything, so exactly one replica runs each
due job. ``commbase jobs run NAME`` and the API run one now, recorded the same way.

Who may run what: a scheduled run, or an operator's ``commbase jobs run``, covers
every organization (``ctx.org_id`` is None). A job declared with
``per_organization=True`` can also run for one organization: then ``ctx.org_id``
names it and the job must touch only that organization's rows. Only such jobs
are shown to tenants, who run them for their own organization and see only
their own organization's runs; every other job is operator-only.

A failed run stores the error's type and message (what the API shows); the
traceback goes to the log only.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from croniter import croniter
from prometheus_client import Counter
from sqlalchemy import Index, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from commbase.core.db import Base, Database, public_id, retry_while_unavailable
from commbase.core.errors import NotFound
from commbase.core.leases import Lease
from commbase.core.loops import repeat
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.jobs")
JOB_RUNS = Counter("commbase_job_runs_total", "Job runs", ["job", "status"])
MAX_ERROR_CHARS = 1000
# How long a run keeps trying to record its end while the database is unavailable.
FINISH_WITHIN_S = 60.0


@dataclass
class JobContext:
    """What a job gets: storage, settings and shared services, and its run's time."""

    database: Database
    now: datetime
    run_id: str
    services: dict[str, Any] = field(default_factory=dict)
    trigger: str = "schedule"  # schedule | manual
    # The one organization this run is for; None: every organization.
    org_id: str | None = None


JobFunc = Callable[[JobContext], Awaitable[int]]


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str
    func: JobFunc
    description: str
    # True: the job honours ``ctx.org_id``, so a tenant may run it for its organization.
    per_organization: bool = False


_registry: dict[str, Job] = {}


def job(
    name: str, *, schedule: str, description: str = "", per_organization: bool = False
) -> Callable[[JobFunc], JobFunc]:
    """Register ``func`` as the job ``name`` on the cron ``schedule``.

    ``per_organization=True`` declares that the job, given ``ctx.org_id``, does only
    that organization's work: tenants may then run it for their own organization.
    """
    if not croniter.is_valid(schedule):
        raise ValueError(f"invalid cron expression for {name}: {schedule!r}")

    def register(func: JobFunc) -> JobFunc:
        _registry[name] = Job(
            name,
            schedule,
            func,
            description or (func.__doc__ or "").strip(),
            per_organization=per_organization,
        )
        return func

    return register


def registered_jobs() -> dict[str, Job]:
    return dict(sorted(_registry.items()))


def tenant_jobs() -> dict[str, Job]:
    """The jobs a tenant may see and run for its own organization."""
    return {name: job_ for name, job_ in registered_jobs().items() if job_.per_organization}


def get_job(name: str) -> Job:
    try:
        return _registry[name]
    except KeyError:
        raise NotFound(f"No job named {name!r}", job=name) from None


def get_tenant_job(name: str) -> Job:
    """The job ``name`` if a tenant may run it; operator-only jobs are as unknown as
    jobs that do not exist."""
    found = _registry.get(name)
    if found is None or not found.per_organization:
        raise NotFound(f"No job named {name!r}", job=name)
    return found


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        Index("ix_job_runs_job_started", "job_name", "started_at"),
        Index("ix_job_runs_org_job_started", "org_id", "job_name", "started_at"),
    )

    id: Mapped[str] = public_id("run")
    # The organization a run was for; NULL for runs over every organization.
    org_id: Mapped[str | None] = mapped_column(String(40))
    job_name: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(20))  # schedule | manual
    scheduled_for: Mapped[datetime | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    rows: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str] = mapped_column(String(100))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def error_summary(exc: BaseException) -> str:
    """What a failed run stores and shows: the error's type and message, no traceback."""
    message = str(exc).strip()
    summary = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return summary[:MAX_ERROR_CHARS]


async def run_job(
    database: Database,
    job_: Job,
    *,
    trigger: str = "manual",
    scheduled_for: datetime | None = None,
    services: dict[str, Any] | None = None,
    org_id: str | None = None,
) -> JobRun:
    """Run one job now and record the run; a failure is recorded, not raised.

    ``org_id`` runs a ``per_organization`` job for that organization only.
    """
    if org_id is not None and not job_.per_organization:
        raise ValueError(f"{job_.name} runs for every organization at once, not for one")
    started = utcnow()
    run = JobRun(
        org_id=org_id,
        job_name=job_.name,
        trigger=trigger,
        scheduled_for=scheduled_for,
        started_at=started,
        status="running",
        worker=worker_name(),
    )
    async with database.sessionmaker() as session:
        session.add(run)
        await session.commit()
    ctx = JobContext(
        database=database,
        now=started,
        run_id=run.id,
        services=services or {},
        trigger=trigger,
        org_id=org_id,
    )
    try:
        rows = await job_.func(ctx)
        run.status, run.rows = "succeeded", int(rows)
    except Exception as exc:
        run.status = "failed"
        run.error = error_summary(exc)
        log.error("job failed", job=job_.name, run_id=run.id, org_id=org_id, exc_info=exc)
    run.finished_at = utcnow()

    async def finish() -> None:
        async with database.sessionmaker() as session:
            await session.merge(run)
            await session.commit()

    # A run left "running" would say so forever: write its end through a database blip.
    await retry_while_unavailable(finish, for_s=FINISH_WITHIN_S, what=f"end of job {job_.name}")
    JOB_RUNS.labels(job_.name, run.status).inc()
    log.info("job finished", job=job_.name, run_id=run.id, status=run.status, rows=run.rows)
    return run


async def last_runs(session: AsyncSession, *, org_id: str | None = None) -> dict[str, JobRun]:
    """The latest run of each job: of any run (the operator's view), or, given
    ``org_id``, of that organization's own runs only."""
    runs = select(JobRun)
    if org_id is not None:
        runs = runs.where(JobRun.org_id == org_id)
    ranked = runs.add_columns(
        func.row_number()
        .over(partition_by=JobRun.job_name, order_by=(JobRun.started_at.desc(), JobRun.id.desc()))
        .label("rank")
    ).subquery()
    latest = aliased(JobRun, ranked)
    rows = await session.scalars(select(latest).where(ranked.c.rank == 1))
    return {run.job_name: run for run in rows}


async def list_runs(
    session: AsyncSession, *, org_id: str, job_name: str, params: PageParams
) -> tuple[list[JobRun], str | None]:
    """One page of an organization's runs of a job, newest first."""
    rows, cursor = await paginate(
        session,
        select(JobRun).where(JobRun.org_id == org_id, JobRun.job_name == job_name),
        id_column=JobRun.id,
        params=params,
    )
    return list(rows), cursor


async def _last_scheduled(session: AsyncSession, name: str) -> datetime | None:
    return await session.scalar(
        select(func.max(JobRun.scheduled_for)).where(
            JobRun.job_name == name, JobRun.trigger == "schedule"
        )
    )


def next_fire(schedule: str, after: datetime) -> datetime:
    result: datetime = croniter(schedule, after).get_next(datetime)
    return result


def previous_fire(schedule: str, before: datetime) -> datetime:
    result: datetime = croniter(schedule, before).get_prev(datetime)
    return result


class Scheduler:
    """Runs due jobs while this process holds the ``scheduler`` lease."""

    LEASE = "scheduler"

    def __init__(
        self,
        database: Database,
        lease: Lease,
        *,
        tick_s: float = 15.0,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.database = database
        self.lease = lease
        self.tick_s = tick_s
        self.services = services or {}
        self.holder = worker_name()
        self._stopping = asyncio.Event()
        self._lease_failing = False

    async def due_jobs(self, now: datetime) -> list[tuple[Job, datetime]]:
        """Each job whose next fire time has passed, with that fire time."""
        due = []
        async with self.database.sessionmaker() as session:
            for job_ in registered_jobs().values():
                last = await _last_scheduled(session, job_.name)
                fire = next_fire(job_.schedule, last) if last else previous_fire(job_.schedule, now)
                if fire <= now:
                    # After downtime, run once for the latest missed slot, not for each.
                    due.append((job_, max(fire, previous_fire(job_.schedule, now))))
        return due

    async def tick(self) -> list[JobRun]:
        """Run every due job once, if this process is the leader."""
        if not await self.lead():
            return []
        runs = []
        for job_, fire in await self.due_jobs(utcnow()):
            runs.append(
                await run_job(
                    self.database,
                    job_,
                    trigger="schedule",
                    scheduled_for=fire,
                    services=self.services,
                )
            )
        return runs

    async def lead(self) -> bool:
        """Take or renew the lease: True while this process leads. A lease store that
        fails means "not the leader now" (logged once until it answers again), and
        the next tick asks again."""
        try:
            leading = await self.lease.acquire(
                self.LEASE, holder=self.holder, ttl_s=self.tick_s * 4
            )
        except Exception as exc:
            if not self._lease_failing:
                log.warning("scheduler lease unavailable: not leading", error=repr(exc))
            self._lease_failing = True
            return False
        if self._lease_failing:
            log.warning("scheduler lease store answers again", leading=leading)
        self._lease_failing = False
        return leading

    async def run_forever(self) -> None:
        async def tick() -> int:
            return len(await self.tick())

        await repeat(tick, stop=self._stopping, pause_s=self.tick_s, name="scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        try:
            await self.lease.release(self.LEASE, holder=self.holder)
        except Exception as exc:  # the lease expires by itself
            log.warning("scheduler lease not released", error=repr(exc))
