"""Analytics jobs: the rollup fold, snapshots in each organization's time zone, alerts."""

from __future__ import annotations

from datetime import timedelta

from commbase.analytics import rollup, snapshots
from commbase.analytics.enums import SnapshotType
from commbase.core.jobs import JobContext, job
from commbase.settings import Settings, get_settings


def _settings(ctx: JobContext) -> Settings:
    found = ctx.services.get("settings")
    return found if isinstance(found, Settings) else get_settings()


@job("analytics.rollup", schedule="* * * * *")
async def fold_rollups(ctx: JobContext) -> int:
    """Fold facts changed since the watermark into hourly rollups (every organization:
    the watermark is one per source). Fails, after committing the rest, when some
    organization's hours could not be folded."""
    lag = timedelta(seconds=_settings(ctx).analytics_rollup_lag_s)
    return await rollup.fold(ctx.database, now=ctx.now, lag=lag)


async def _snapshots(ctx: JobContext, snapshot_type: SnapshotType) -> int:
    # A manual run (API or `commbase jobs run`) regenerates the latest period even if
    # written; one an organization triggers (JobContext.org_id) does only its own.
    return await snapshots.run_due(
        ctx.database.sessionmaker,
        snapshot_type,
        ctx.now,
        force=ctx.trigger == "manual",
        org_id=ctx.org_id,
    )


@job(
    "analytics.hourly_snapshot",
    schedule="*/15 * * * *",
    per_organization=True,
    description="Hourly snapshots, at :05 past each hour in each organization's time zone",
)
async def hourly_snapshot(ctx: JobContext) -> int:
    return await _snapshots(ctx, SnapshotType.HOURLY)


@job(
    "analytics.daily_snapshot",
    schedule="*/15 * * * *",
    per_organization=True,
    description="Yesterday's snapshot, at 02:00 (0 2 * * *) in each organization's time zone",
)
async def daily_snapshot(ctx: JobContext) -> int:
    return await _snapshots(ctx, SnapshotType.DAILY)


@job(
    "analytics.weekly_snapshot",
    schedule="*/15 * * * *",
    per_organization=True,
    description="Last week's (Monday-Sunday) snapshot, Mondays 03:00 (0 3 * * 1) local time",
)
async def weekly_snapshot(ctx: JobContext) -> int:
    return await _snapshots(ctx, SnapshotType.WEEKLY)


@job(
    "analytics.monthly_snapshot",
    schedule="*/15 * * * *",
    per_organization=True,
    description="Last month's snapshot, on the 1st at 04:00 (0 4 1 * *) local time",
)
async def monthly_snapshot(ctx: JobContext) -> int:
    return await _snapshots(ctx, SnapshotType.MONTHLY)


@job(
    "analytics.yearly_snapshot",
    schedule="*/15 * * * *",
    per_organization=True,
    description="Last year's snapshot, on January 1st at 05:00 (0 5 1 1 *) local time",
)
async def yearly_snapshot(ctx: JobContext) -> int:
    return await _snapshots(ctx, SnapshotType.YEARLY)
