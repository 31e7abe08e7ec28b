"""Operational routes: health, readiness, Prometheus metrics, the problem catalogue, jobs."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text

from commbase.core import jobs
from commbase.core.auth import CurrentPrincipal, bearer_token
from commbase.core.db import DbSession
from commbase.core.deps import AppDatabase, AppSettings
from commbase.core.errors import (
    AuthenticationRequired,
    CommbaseError,
    DatabaseUnavailable,
    InvalidCredentials,
    NotFound,
    error_classes,
)
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope

router = APIRouter()
# How long /readyz waits for each dependency before counting it as down.
READY_TIMEOUT_S = 2.0
JobName = Annotated[str, Path(max_length=100, description="A job's name, see GET /v1/jobs")]


# ------------------------------------------------------------------- responses


class Health(BaseModel):
    status: str = Field(description="Always `ok` while the process answers")


class Readiness(BaseModel):
    status: str = Field(
        description=(
            "`ok`; `degraded` when Redis does not answer (requests are still served, "
            "with per-process fallbacks); `unavailable` when the database does not "
            "answer (HTTP 503)"
        )
    )
    checks: dict[str, str] = Field(description="`ok` or `error: <type>` per dependency")


class ProblemType(BaseModel):
    type: str = Field(description="The `type` URI problems of this kind carry")
    code: str
    status: int = Field(description="The HTTP status problems of this type answer with")
    title: str
    parent: str | None = Field(description="The more general type this one refines, if any")
    description: str


class ProblemTypeList(BaseModel):
    data: list[ProblemType]


class JobRunRead(BaseModel):
    id: str
    job: str
    trigger: str = Field(description="`schedule` or `manual`")
    status: str = Field(description="`running`, `succeeded` or `failed`")
    started_at: datetime
    finished_at: datetime | None
    rows: int | None = Field(description="How many rows the run changed")
    error: str | None = Field(description="The error's type and message, when the run failed")


class JobRead(BaseModel):
    name: str
    schedule: str = Field(description="Cron expression (UTC) the scheduler runs it on")
    description: str
    last_run: JobRunRead | None = Field(description="This organization's latest run")


class JobList(BaseModel):
    data: list[JobRead]


def _run_read(run: jobs.JobRun) -> JobRunRead:
    return JobRunRead(
        id=run.id,
        job=run.job_name,
        trigger=run.trigger,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        rows=run.rows,
        error=run.error,
    )


# ------------------------------------------------------------------- operations


@router.get("/healthz", tags=["operations"], summary="The process is up", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    """``ok``, or ``error: <type>`` when ``probe`` fails or takes over READY_TIMEOUT_S."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await probe()
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@router.get(
    "/readyz",
    tags=["operations"],
    summary="Whether this process can serve: the database answers",
    description=(
        "200 while the database answers within 2 s; 503 (with `Retry-After`) while it "
        "does not, so that a load balancer stops sending requests here. Redis not "
        "answering, or a read replica (`replica0`, ...) not answering or behind its "
        "primary, makes the status `degraded`, still 200: the process serves without it. "
        "`warmup` (a serving process): `error: ...` when its start-up warm-up failed or "
        "ran out of time, also `degraded`: pages' first views are slower."
    ),
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database does not answer"}},
)
async def readyz(request: Request, response: Response, database: AppDatabase) -> Readiness:
    async def select_one() -> None:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    checks = {"database": await _check(select_one)}
    redis = request.app.state.redis
    if redis is not None:

        async def ping() -> None:
            await redis.ping()

        checks["redis"] = await _check(ping)
    replicas = getattr(request.app.state, "replicas", None)
    if replicas is not None:  # a replica away or behind: degraded, the primary serves
        checks.update(await replicas.status(READY_TIMEOUT_S))
    warmup = getattr(request.app.state, "warmup", None)
    if warmup is not None:  # a serving process's start-up warm-up (commbase.warmup)
        checks["warmup"] = warmup
    if checks["database"] != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(DatabaseUnavailable.retry_after_s)
        return Readiness(status="unavailable", checks=checks)
    degraded = any(not value.startswith("ok") for value in checks.values())
    return Readiness(status="degraded" if degraded else "ok", checks=checks)


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    description=(
        "With `COMMBASE_METRICS_TOKEN` set, only requests bearing that token "
        "(`Authorization: Bearer <token>`) are answered. Without it, the metrics are "
        "open in development and off (404) when `COMMBASE_ENV=production`."
    ),
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, settings: AppSettings) -> Response:
    expected = settings.metrics_token
    if expected is not None:
        token = bearer_token(request)
        challenge = {"WWW-Authenticate": 'Bearer realm="commbase metrics"'}
        if token is None:
            raise AuthenticationRequired(
                "Send 'Authorization: Bearer <COMMBASE_METRICS_TOKEN>'", headers=challenge
            )
        if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
            raise InvalidCredentials("The metrics token does not match", headers=challenge)
    elif not settings.metrics_open:
        raise NotFound()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# --------------------------------------------------------------------- problems


def _problem_type(cls: type[CommbaseError]) -> ProblemType:
    base = cls.__mro__[1]
    # Top-level types refine nothing: the root class is a code base, not a more
    # general problem (a rate limit is not a kind of internal error).
    parent = base.code if issubclass(base, CommbaseError) and base is not CommbaseError else None
    return ProblemType(
        type=f"/problems/{cls.code}",
        code=cls.code,
        status=cls.status,
        title=cls.title,
        parent=parent,
        description=" ".join((cls.__doc__ or "").split("\n\n")[0].split()),
    )


def problem_types() -> dict[str, ProblemType]:
    """Every problem type, each once, described by the class that introduces its code."""
    found: dict[str, ProblemType] = {}
    # A domain subclass that keeps its parent's code (to carry context) is the same
    # problem type; error_classes() lists parents first.
    for cls in error_classes():
        if cls.code not in found:
            found[cls.code] = _problem_type(cls)
    return found


@router.get(
    "/problems",
    tags=["operations"],
    summary="Every problem type the API returns",
    response_model=ProblemTypeList,
)
async def list_problems() -> ProblemTypeList:
    return ProblemTypeList(data=list(problem_types().values()))


@router.get(
    "/problems/{code}",
    tags=["operations"],
    summary="One problem type",
    response_model=ProblemType,
)
async def get_problem(code: Annotated[str, Path(max_length=100)]) -> ProblemType:
    found = problem_types().get(code)
    if found is None:
        raise NotFound(f"No problem type {code!r}")
    return found


# ------------------------------------------------------------------------- jobs


@router.get(
    "/v1/jobs",
    tags=["jobs"],
    summary="Jobs this organization can run, with its latest run of each",
    description=(
        "Jobs that can run for one organization. Jobs that cover every organization "
        "(rollups, session clean-up, ...) are run by the scheduler and by the operator "
        "(`commbase jobs run`) and are not listed."
    ),
    response_model=JobList,
)
async def list_jobs(principal: CurrentPrincipal, session: DbSession) -> JobList:
    principal.require(Scope.JOBS_RUN)
    latest = await jobs.last_runs(session, org_id=principal.org_id)
    return JobList(
        data=[
            JobRead(
                name=job_.name,
                schedule=job_.schedule,
                description=job_.description,
                last_run=_run_read(latest[job_.name]) if job_.name in latest else None,
            )
            for job_ in jobs.tenant_jobs().values()
        ]
    )


@router.post(
    "/v1/jobs/{name}/runs",
    tags=["jobs"],
    status_code=status.HTTP_201_CREATED,
    summary="Run a job now for this organization",
    response_model=JobRunRead,
)
async def run_job_now(
    name: JobName,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
) -> JobRunRead:
    principal.require(Scope.JOBS_RUN)
    job_ = jobs.get_tenant_job(name)
    # The job writes in its own transactions; end this request's first, since
    # SQLite allows one writer at a time.
    await session.commit()
    run = await jobs.run_job(
        database,
        job_,
        trigger="manual",
        services=request.app.state.job_services,
        org_id=principal.org_id,
    )
    return _run_read(run)


@router.get(
    "/v1/jobs/{name}/runs",
    tags=["jobs"],
    summary="This organization's runs of a job, newest first",
    response_model=Page[JobRunRead],
)
async def list_job_runs(
    name: JobName, page: PageQuery, principal: CurrentPrincipal, session: DbSession
) -> Page[JobRunRead]:
    principal.require(Scope.JOBS_RUN)
    job_ = jobs.get_tenant_job(name)
    runs, cursor = await jobs.list_runs(
        session, org_id=principal.org_id, job_name=job_.name, params=page
    )
    return Page[JobRunRead](data=[_run_read(run) for run in runs], next_cursor=cursor)
