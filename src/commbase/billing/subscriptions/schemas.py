"""Subscription API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import not_null

Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Quantity = Annotated[int, Field(ge=1, le=100_000)]


class AddOnItem(AppSchema):
    addon_id: Id
    quantity: Quantity = 1


class SubscriptionCreate(AppSchema):
    customer_id: Id
    plan_id: Id
    quantity: Quantity = Field(default=1, description="Seats (per-seat plans only)")
    addons: Annotated[list[AddOnItem], Field(max_length=20)] = []
    coupon_id: Id | None = None
    trial_days: Annotated[int, Field(ge=0, le=730)] | None = Field(
        default=None, description="Overrides the plan's trial"
    )


class SubscriptionUpdate(AppSchema):
    """Changes take effect at once and are prorated (see the README's rule); ``addons``
    replaces the whole list; ``cancel_at_period_end: false`` withdraws a cancellation."""

    plan_id: Id | None = None
    quantity: Quantity | None = None
    addons: Annotated[list[AddOnItem], Field(max_length=20)] | None = None
    coupon_id: Id | None = None
    cancel_at_period_end: bool | None = None

    _not_null = field_validator("plan_id", "quantity", "addons", "cancel_at_period_end")(not_null)


class SubscriptionCancel(AppSchema):
    at_period_end: bool = Field(
        default=True, description="true: at the current period's end; false: now, no refund"
    )
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class AddOnItemRead(ReadSchema):
    addon_id: str
    quantity: int


class SubscriptionRead(ReadSchema):
    id: str
    customer_id: str
    plan_id: str
    quantity: int
    status: str
    currency: str
    interval: str
    coupon_id: str | None
    discount_active: bool
    discount_ends_at: datetime | None
    trial_end: datetime | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    cancellation_reason: str | None
    cancelled_at: datetime | None
    paused_at: datetime | None
    ended_at: datetime | None
    credit_balance: int = Field(description="Owed to the customer, taken off next invoices")
    mrr: int = Field(description="Monthly recurring revenue, minor units")
    addons: list[AddOnItemRead]
    created_at: datetime
