"""Operational routes: health, readiness, Prometheus metrics, the problem catalogue, jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from commbase.core import jobs
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppDatabase
from commbase.core.errors import NotFound, error_classes
from commbase.core.scopes import Scope

router = APIRouter()


@router.get("/healthz", tags=["operations"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], summary="The database and Redis answer")
async def readyz(request: Request, response: Response, database: AppDatabase) -> dict[str, Any]:
    checks: dict[str, str] = {}
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    redis = request.app.state.redis
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ok" if ready else "unavailable", "checks": checks}


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _problem_doc(cls: type[Any]) -> dict[str, Any]:
    return {
        "type": f"/problems/{cls.code}",
        "code": cls.code,
        "status": cls.status,
        "title": cls.title,
        "parent": cls.__mro__[1].code if hasattr(cls.__mro__[1], "code") else None,
        "description": (cls.__doc__ or "").strip(),
    }


@router.get("/problems", tags=["operations"], summary="Every problem type the API returns")
async def list_problems() -> list[dict[str, Any]]:
    # A domain subclass that keeps its parent's code (to carry context) is the
    # same problem type; list each type once, as its documented class.
    problems: dict[str, dict[str, Any]] = {}
    for cls in error_classes():
        problems.setdefault(cls.code, _problem_doc(cls))
    return list(problems.values())


@router.get("/problems/{code}", tags=["operations"], summary="One problem type")
async def get_problem(code: str) -> dict[str, Any]:
    for cls in error_classes():
        if cls.code == code:
            return _problem_doc(cls)
    raise NotFound(f"No problem type {code!r}")


@router.get("/v1/jobs", tags=["jobs"], summary="Scheduled jobs and their latest runs")
async def list_jobs(principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    principal.require(Scope.JOBS_RUN)
    latest = await jobs.last_runs(session)
    return {
        "data": [
            {
                "name": job_.name,
                "schedule": job_.schedule,
                "description": job_.description,
                "last_run": _run_doc(latest[job_.name]) if job_.name in latest else None,
            }
            for job_ in jobs.registered_jobs().values()
        ]
    }


@router.post(
    "/v1/jobs/{name}/runs",
    tags=["jobs"],
    status_code=status.HTTP_201_CREATED,
    summary="Run a job now",
)
async def run_job_now(
    name: str,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
) -> dict[str, Any]:
    principal.require(Scope.JOBS_RUN)
    job_ = jobs.get_job(name)
    # The job writes in its own transactions; end this request's first, since
    # SQLite allows one writer at a time.
    await session.commit()
    run = await jobs.run_job(
        database, job_, trigger="manual", services=request.app.state.job_services
    )
    return _run_doc(run)


def _run_doc(run: jobs.JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job": run.job_name,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "rows": run.rows,
        "error": run.error,
    }
