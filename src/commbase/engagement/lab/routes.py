"""Lab experiments under ``/v1/track/lab`` (seed 002's ``POST /track/lab``); moved from tracking."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.lab import service as lab
from commbase.engagement.lab.models import LabExperiment
from commbase.engagement.lab.schemas import LabCreate, LabRead, LabUpdate

router = APIRouter(prefix="/v1/track", tags=["tracking"])


@router.post("/lab", response_model=LabRead, status_code=status.HTTP_201_CREATED)
async def track_lab(
    body: LabCreate, principal: CurrentPrincipal, session: DbSession
) -> LabExperiment:
    """Record an AI lab experiment (update it later with ``PATCH /v1/track/lab/{id}``)."""
    principal.require(Scope.TRACK_WRITE)
    return await lab.create_lab_experiment(session, org_id=principal.org_id, data=body)


@router.get("/lab/{experiment_id}", response_model=LabRead)
async def get_lab(experiment_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ANALYTICS_READ)
    return await lab.get_lab_experiment(
        session, org_id=principal.org_id, experiment_id=experiment_id
    )


@router.patch("/lab/{experiment_id}", response_model=LabRead)
async def update_lab(
    experiment_id: PathId, body: LabUpdate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    """Change an experiment's status, output, processing time, tokens or error."""
    principal.require(Scope.TRACK_WRITE)
    return await lab.update_lab_experiment(
        session, org_id=principal.org_id, experiment_id=experiment_id, data=body
    )
