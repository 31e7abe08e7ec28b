"""MRR movements under ``/v1/billing/mrr-movements`` (the series: ``/v1/analytics``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from commbase.billing.revenue import breakdown, forecast, mrr_forecast, retention, service
from commbase.billing.revenue.enums import MovementKind
from commbase.billing.revenue.schemas import (
    Breakdown,
    Forecast,
    MrrForecast,
    MrrMovementRead,
    MrrNow,
    Retention,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.csv_export import csv_response
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import UtcDateTime

router = APIRouter(prefix="/v1/billing", tags=["billing revenue"])


@router.get("/mrr", response_model=MrrNow)
async def mrr_now(principal: CurrentPrincipal, session: DbSession) -> MrrNow:
    """MRR and ARR now, per currency, with the paying subscriptions behind them (over
    time: ``/v1/analytics/series?metrics=mrr.change&group_by=currency``)."""
    principal.require(Scope.BILLING_READ)
    return await service.mrr_now(session, org_id=principal.org_id)


@router.get("/forecast", response_model=Forecast)
async def billing_forecast(
    principal: CurrentPrincipal,
    session: DbSession,
    days: Annotated[int, Query(ge=1, le=366, description="The window, from now")] = 30,
) -> Forecast:
    """What renewals will invoice in the next ``days`` (30, 90...), per currency, before
    tax, at today's plans, quantities and coupons (trials converting included)."""
    principal.require(Scope.BILLING_READ)
    return await forecast.forecast(session, org_id=principal.org_id, days=days)


Months = Annotated[int, Query(ge=1, le=24, description="Months (30 days) ahead")]
TrailingMonths = Annotated[
    int, Query(ge=1, le=12, description="Months (30 days) of movements the rate is taken from")
]


@router.get("/mrr-forecast", response_model=MrrForecast)
async def mrr_forecast_report(
    principal: CurrentPrincipal,
    session: DbSession,
    months: Months = 3,
    trailing_months: TrailingMonths = 3,
) -> MrrForecast:
    """MRR per currency now, every 30 days over the trailing window, and extrapolated
    ``months`` ahead from the trailing net new MRR (straight line; see ``method``)."""
    principal.require(Scope.BILLING_READ)
    return await mrr_forecast.mrr_forecast(
        session, org_id=principal.org_id, months=months, trailing_months=trailing_months
    )


@router.get(
    "/mrr-forecast.csv",
    response_class=StreamingResponse,
    responses={
        200: {"description": "CSV text", "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def mrr_forecast_csv(
    principal: CurrentPrincipal,
    session: DbSession,
    months: Months = 3,
    trailing_months: TrailingMonths = 3,
) -> StreamingResponse:
    """The MRR forecast as CSV: currency, kind (history or forecast), at, mrr."""
    principal.require(Scope.BILLING_READ)
    answer = await mrr_forecast.mrr_forecast(
        session, org_id=principal.org_id, months=months, trailing_months=trailing_months
    )

    async def rows() -> AsyncIterator[list[Any]]:
        for item in answer.data:
            for kind, points in (("history", item.history), ("forecast", item.forecast)):
                for point in points:
                    yield [item.currency, kind, point.at.isoformat(), point.mrr]

    return csv_response(["currency", "kind", "at", "mrr"], rows(), "mrr-forecast.csv")


@router.get("/retention", response_model=Retention)
async def retention_report(
    principal: CurrentPrincipal,
    session: DbSession,
    start: Annotated[UtcDateTime, Query(alias="from", description="Aware date-time")],
    end: Annotated[UtcDateTime, Query(alias="to", description="Aware date-time, after from")],
) -> Retention:
    """MRR at both ends of the period and the movements between, customer and revenue
    churn rates, net revenue retention and ARPA, in the organization's currency."""
    principal.require(Scope.BILLING_READ)
    return await retention.retention(session, org_id=principal.org_id, start=start, end=end)


@router.get("/revenue-breakdown", response_model=Breakdown)
async def revenue_breakdown(
    principal: CurrentPrincipal,
    session: DbSession,
    start: Annotated[UtcDateTime, Query(alias="from", description="Aware date-time")],
    end: Annotated[UtcDateTime, Query(alias="to", description="Aware date-time, after from")],
) -> Breakdown:
    """Plan distribution (now), add-on adoption and revenue, invoices by status (paid,
    open, overdue) and trial conversion over the period, in the organization's currency."""
    principal.require(Scope.BILLING_READ)
    return await breakdown.breakdown(session, org_id=principal.org_id, start=start, end=end)


@router.get("/mrr-movements", response_model=Page[MrrMovementRead])
async def list_movements(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    kind: Annotated[MovementKind | None, Query()] = None,
) -> Page[MrrMovementRead]:
    """Every change of MRR, newest first: new, expansion, contraction, churn, reactivation."""
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_movements(
        session, org_id=principal.org_id, params=page, subscription_id=subscription_id, kind=kind
    )
    return Page(data=[MrrMovementRead.model_validate(r) for r in rows], next_cursor=cursor)
