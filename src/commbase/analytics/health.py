"""Whether an organization's analytics are current: snapshots, jobs, rollups, custom metrics."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import custom, snapshot_service
from commbase.analytics.custom import PREFIX
from commbase.analytics.models import Watermark
from commbase.analytics.schemas import (
    FailedMetric,
    HealthRead,
    JobHealth,
    LatestSnapshot,
    RollupHealth,
)
from commbase.core.jobs import JobRun

ANALYTICS_JOBS = (
    "analytics.rollup",
    "analytics.hourly_snapshot",
    "analytics.daily_snapshot",
    "analytics.weekly_snapshot",
    "analytics.monthly_snapshot",
    "analytics.yearly_snapshot",
    "analytics.check_alerts",
)
FRESH = timedelta(hours=24)


async def _job(session: AsyncSession, name: str, org_id: str) -> JobHealth:
    # Runs for every organization (the schedule's), and this organization's own.
    runs = (JobRun.job_name == name) & (JobRun.org_id.is_(None) | (JobRun.org_id == org_id))
    last_success = await session.scalar(
        select(func.max(JobRun.finished_at)).where(runs, JobRun.status == "succeeded")
    )
    last = await session.scalar(
        select(JobRun).where(runs).order_by(JobRun.started_at.desc()).limit(1)
    )
    return JobHealth(
        last_success_at=last_success,
        last_run_at=last.started_at if last else None,
        last_status=last.status if last else None,
    )


async def health(session: AsyncSession, *, org_id: str, now: datetime) -> HealthRead:
    """The seed's health check (latest snapshot under 24 hours old), plus the last run
    and last success of each analytics job, how far behind each rollup is, and the
    organization's custom metrics whose last fold failed."""
    latest = await snapshot_service.latest(session, org_id)
    jobs = {name: await _job(session, name, org_id) for name in ANALYTICS_JOBS}
    marks = await session.execute(select(Watermark.source, Watermark.position))
    rollups = {
        source: RollupHealth(watermark=position, behind_s=int((now - position).total_seconds()))
        for source, position in marks
    }
    failed = [
        FailedMetric(
            name=PREFIX + row.name, error=row.rollup_error or "", failed_at=row.rollup_failed_at
        )
        for row in await custom.failed_metrics(session, org_id=org_id)
    ]
    return HealthRead(
        healthy=latest is not None and now - latest.updated_at < FRESH,
        latest_snapshot=(
            LatestSnapshot(
                id=latest.id,
                type=latest.snapshot_type,
                date=latest.date,
                generated_at=latest.updated_at,
                age_s=int((now - latest.updated_at).total_seconds()),
            )
            if latest
            else None
        ),
        jobs=jobs,
        rollups=rollups,
        failed_metrics=failed,
    )
