"""Lab runs: AI experiments recorded through ``/v1/track/lab`` and updated as they finish."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import NotFound
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.engagement.lab.models import LabExperiment
from commbase.engagement.lab.schemas import LabCreate, LabUpdate
from commbase.tracking.bounds import checked_time


async def create_lab_experiment(
    session: AsyncSession, *, org_id: str, data: LabCreate
) -> LabExperiment:
    now = utcnow()
    experiment = LabExperiment(
        id=new_id("lab"),
        org_id=org_id,
        occurred_at=await checked_time(session, org_id=org_id, moment=data.timestamp, now=now),
        **data.model_dump(exclude={"timestamp"}),
    )
    session.add(experiment)
    await session.flush()
    return experiment


async def get_lab_experiment(
    session: AsyncSession, *, org_id: str, experiment_id: str
) -> LabExperiment:
    experiment = await session.scalar(
        select(LabExperiment).where(
            LabExperiment.org_id == org_id, LabExperiment.id == experiment_id
        )
    )
    if experiment is None:
        raise NotFound("Lab experiment not found")
    return experiment


async def update_lab_experiment(
    session: AsyncSession, *, org_id: str, experiment_id: str, data: LabUpdate
) -> LabExperiment:
    """Apply the fields sent (e.g. status completed, output, tokens used)."""
    experiment = await get_lab_experiment(session, org_id=org_id, experiment_id=experiment_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(experiment, name, value)
    await session.flush()
    return experiment
