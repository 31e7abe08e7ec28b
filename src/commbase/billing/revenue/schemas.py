"""MRR movement API shapes."""

from __future__ import annotations

from datetime import datetime

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
