"""Analytics jobs: the rollup fold, snapshots in each organization's time zone, alerts."""

from __future__ import annotations

from datetime import timedelta

from commbase.analytics import rollup
from commbase.core.jobs import JobContext, job
from commbase.settings import Settings, get_settings


def _settings(ctx: JobContext) -> Settings:
    found = ctx.services.get("settings")
    return found if isinstance(found, Settings) else get_settings()


@job("analytics.rollup", schedule="* * * * *")
async def fold_rollups(ctx: JobContext) -> int:
    """Fold facts changed since the watermark into hourly rollups."""
    lag = timedelta(seconds=_settings(ctx).analytics_rollup_lag_s)
    return await rollup.fold(ctx.database, now=ctx.now, lag=lag)
