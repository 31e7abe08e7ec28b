"""MRR movement API shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from commbase.core.schemas import ReadSchema


class MrrMovementRead(ReadSchema):
    id: str
    subscription_id: str
    customer_id: str
    plan_id: str
    kind: str
    currency: str
    amount: int
    mrr_before: int
    mrr_after: int
    occurred_at: datetime


class CurrencyMrr(ReadSchema):
    currency: str
    mrr: int
    arr: int
    paying_subscriptions: int


class MrrNow(ReadSchema):
    """MRR as it stands, per currency (never added across currencies)."""

    data: list[CurrencyMrr]


class ForecastCurrency(ReadSchema):
    currency: str
    amount: int
    renewals: int


class Forecast(ReadSchema):
    """What renewals will invoice within ``days``, per currency, before tax."""

    days: int
    data: list[ForecastCurrency]


class Retention(ReadSchema):
    """A period's recurring revenue in the organization's currency (rates in percent)."""

    currency: str
    mrr_start: int
    mrr_end: int
    new: int
    expansion: int
    contraction: int
    churn: int
    reactivation: int
    customers_start: int
    customers_end: int
    customers_churned: int
    customer_churn_rate: float | None
    revenue_churn_rate: float | None
    net_revenue_retention: float | None
    arpa: int | None
    ltv: int | None = Field(
        description="Lifetime value: ARPA / customer churn rate; null when nobody churned"
    )


class PlanShare(ReadSchema):
    plan_id: str
    code: str
    name: str
    paying_subscriptions: int
    trialing_subscriptions: int
    mrr: int


class AddOnShare(ReadSchema):
    addon_id: str
    code: str
    name: str
    subscriptions: int = Field(description="Subscriptions invoiced for it in the period")
    adoption_rate: float = Field(description="Of the subscriptions invoiced for a plan, x 100")
    revenue: int = Field(description="Its invoice lines in the period, before discount and tax")


class InvoiceStatusFigure(ReadSchema):
    count: int
    amount: int


class InvoicesByStatus(ReadSchema):
    paid: InvoiceStatusFigure = Field(description="Amount: the totals")
    open: InvoiceStatusFigure = Field(description="Amount: still due")
    overdue: InvoiceStatusFigure = Field(description="Open past their due date; still due")


class TrialConversion(ReadSchema):
    started: int
    converted: int
    conversion_rate: float = Field(description="converted / started x 100")


class Breakdown(ReadSchema):
    """Plan distribution (now), add-on adoption and revenue, invoices by status and trial
    conversion (over the period), in the organization's currency."""

    currency: str
    plans: list[PlanShare]
    addons: list[AddOnShare]
    invoices: InvoicesByStatus
    trials: TrialConversion


class MrrPoint(ReadSchema):
    at: datetime
    mrr: int


class MrrForecastCurrency(ReadSchema):
    currency: str
    mrr: int = Field(description="MRR now (minor units)")
    trailing_net_new_mrr: int = Field(description="MRR now - MRR trailing_months ago")
    monthly_net_new_mrr: int = Field(description="trailing_net_new_mrr / trailing_months")
    history: list[MrrPoint] = Field(description="MRR every 30 days over the trailing window")
    forecast: list[MrrPoint] = Field(description="MRR forecast every 30 days from now")


class MrrForecast(ReadSchema):
    """MRR extrapolated from its trailing net new MRR, per currency (``method``)."""

    as_of: datetime
    months: int
    trailing_months: int
    method: str
    data: list[MrrForecastCurrency]
