"""Threshold alerts API: define alerts on any metric, list them, try one now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.analytics.alerts import service as alerts
from commbase.analytics.alerts.models import Alert
from commbase.analytics.alerts.schemas import AlertCreate, AlertRead, AlertTestResult, AlertUpdate
from commbase.analytics.enums import AlertState
from commbase.core.auth import Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.time import utcnow
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/analytics/alerts", tags=["analytics"])


@router.post("", response_model=AlertRead, status_code=status.HTTP_201_CREATED)
async def create_alert(
    body: AlertCreate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> Alert:
    """An alert on a metric; checked every minute from now on."""
    principal.require(Scope.ANALYTICS_WRITE)
    return await alerts.create_alert(session, data=body, actor=principal, client=client)


@router.get("", response_model=Page[AlertRead])
async def list_alerts(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    state: AlertState | None = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> Any:
    principal.require(Scope.ANALYTICS_READ)
    rows, cursor = await alerts.list_alerts(
        session, org_id=principal.org_id, params=page, state=state, enabled=enabled
    )
    return Page(data=[AlertRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{alert_id}", response_model=AlertRead)
async def get_alert(alert_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Alert:
    principal.require(Scope.ANALYTICS_READ)
    return await alerts.get_alert(session, org_id=principal.org_id, alert_id=alert_id)


@router.patch("/{alert_id}", response_model=AlertRead)
async def update_alert(
    alert_id: PathId,
    body: AlertUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    client: Client,
) -> Alert:
    principal.require(Scope.ANALYTICS_WRITE)
    alert = await alerts.get_alert(session, org_id=principal.org_id, alert_id=alert_id)
    return await alerts.update_alert(
        session, alert=alert, changes=body, actor=principal, client=client
    )


@router.delete("/{alert_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert(
    alert_id: PathId, principal: CurrentPrincipal, session: DbSession, client: Client
) -> None:
    principal.require(Scope.ANALYTICS_WRITE)
    alert = await alerts.get_alert(session, org_id=principal.org_id, alert_id=alert_id)
    await alerts.delete_alert(session, alert=alert, actor=principal, client=client)


@router.post("/{alert_id}/test", response_model=AlertTestResult)
async def test_alert(
    alert_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> AlertTestResult:
    """Check the alert now, as the job would, without recording an event or changing it."""
    principal.require(Scope.ANALYTICS_READ)
    alert = await alerts.get_alert(session, org_id=principal.org_id, alert_id=alert_id)
    return await alerts.try_alert(session, alert=alert, now=utcnow())
