"""Call quality report (the seed's Call Quality Metrics aggregation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.enums import CallStatus
from commbase.calls.models import Call
from commbase.calls.schemas import QualityStats


async def call_quality(
    session: AsyncSession, *, org_id: str, since: datetime | None, until: datetime | None
) -> QualityStats:
    """Averages over completed calls that reported a MOS, and a count per label."""
    where = [
        Call.org_id == org_id,
        Call.status == CallStatus.COMPLETED,
        Call.mos_score.is_not(None),
    ]
    if since:
        where.append(Call.created_at >= since)
    if until:
        where.append(Call.created_at < until)
    row = (
        await session.execute(
            select(
                func.count(),
                func.avg(Call.mos_score),
                func.avg(Call.latency_ms),
                func.avg(Call.jitter_ms),
                func.avg(Call.packet_loss),
            ).where(*where)
        )
    ).one()
    labels = await session.execute(
        select(Call.quality, func.count()).where(*where).group_by(Call.quality)
    )

    def rounded(value: object, digits: int) -> float | None:
        return None if value is None else round(float(value), digits)  # type: ignore[arg-type]

    return QualityStats(
        total_calls=int(row[0]),
        avg_mos=rounded(row[1], 2),
        avg_latency_ms=rounded(row[2], 1),
        avg_jitter_ms=rounded(row[3], 1),
        avg_packet_loss=rounded(row[4], 4),
        by_label={str(label): int(count) for label, count in labels.all() if label},
    )
