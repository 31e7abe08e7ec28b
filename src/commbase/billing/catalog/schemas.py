"""Catalog API shapes: plans, add-ons, coupons, tax rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from commbase.billing.catalog.enums import (
    AddOnPricing,
    CouponDuration,
    Interval,
    PlanPricing,
    UsageMeter,
)
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Currency, Name, not_null

Code = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Feature = Annotated[str, StringConstraints(min_length=1, max_length=60)]
Price = Annotated[int, Field(ge=0, le=10**12, description="Minor units per period")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class PlanCreate(AppSchema):
    code: Code
    name: Name
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    interval: Interval = Interval.MONTH
    amount: Price
    currency: Currency
    pricing: PlanPricing = PlanPricing.FLAT
    trial_days: Annotated[int, Field(ge=0, le=730)] = 0
    included_minutes: Annotated[int, Field(ge=0, le=10**9)] = 0
    features: Annotated[list[Feature], Field(max_length=50)] = []


class PlanUpdate(AppSchema):
    """Name, description, trial and entitlements; prices never change in place (a new
    plan is a new price)."""

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    trial_days: Annotated[int, Field(ge=0, le=730)] | None = None
    included_minutes: Annotated[int, Field(ge=0, le=10**9)] | None = None
    features: Annotated[list[Feature], Field(max_length=50)] | None = None

    _not_null = field_validator("name", "trial_days", "included_minutes", "features")(not_null)


class PlanRead(ReadSchema):
    id: str
    code: str
    name: str
    description: str | None
    interval: str
    amount: int
    currency: str
    pricing: str
    trial_days: int
    included_minutes: int
    features: list[str]
    archived_at: datetime | None
    created_at: datetime


class AddOnCreate(AppSchema):
    code: Code
    name: Name
    category: Annotated[str, StringConstraints(min_length=1, max_length=60)] = "general"
    pricing: AddOnPricing = AddOnPricing.FLAT
    interval: Interval = Interval.MONTH
    amount: Price
    currency: Currency
    requires_addons: Annotated[list[Code], Field(max_length=20)] = []
    requires_features: Annotated[list[Feature], Field(max_length=20)] = []
    usage_meter: UsageMeter | None = Field(
        default=None,
        description="With pricing=usage (and only then): what is counted; amount is per unit",
    )

    @model_validator(mode="after")
    def _meter(self) -> AddOnCreate:
        if (self.pricing == AddOnPricing.USAGE) != (self.usage_meter is not None):
            raise ValueError("usage_meter goes with pricing=usage, and only with it")
        return self


class AddOnUpdate(AppSchema):
    name: Name | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    requires_addons: Annotated[list[Code], Field(max_length=20)] | None = None
    requires_features: Annotated[list[Feature], Field(max_length=20)] | None = None

    _not_null = field_validator("name", "category", "requires_addons", "requires_features")(
        not_null
    )


class AddOnRead(ReadSchema):
    id: str
    code: str
    name: str
    category: str
    pricing: str
    interval: str
    amount: int
    currency: str
    requires_addons: list[str]
    requires_features: list[str]
    usage_meter: str | None
    archived_at: datetime | None
    created_at: datetime


class CouponCreate(AppSchema):
    code: Code
    name: Name
    percent_off: Annotated[int, Field(ge=1, le=100)] | None = None
    amount_off: Annotated[int, Field(ge=1, le=10**12)] | None = None
    currency: Currency | None = Field(default=None, description="Required with amount_off")
    duration: CouponDuration = CouponDuration.ONCE
    duration_months: Annotated[int, Field(ge=1, le=120)] | None = Field(
        default=None, description="Required with duration=repeating"
    )

    @model_validator(mode="after")
    def _consistent(self) -> CouponCreate:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        if (self.amount_off is None) != (self.currency is None):
            raise ValueError("currency goes with amount_off, and only with it")
        if (self.duration == CouponDuration.REPEATING) != (self.duration_months is not None):
            raise ValueError("duration_months goes with duration=repeating, and only with it")
        return self


class CouponRead(ReadSchema):
    id: str
    code: str
    name: str
    percent_off: int | None
    amount_off: int | None
    currency: str | None
    duration: str
    duration_months: int | None
    archived_at: datetime | None
    created_at: datetime


class TaxRateSet(AppSchema):
    country: Country | None = Field(
        default=None, description="ISO 3166 alpha-2; null: the default for every other country"
    )
    percent: Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]
    inclusive: bool = False
    name: Annotated[str, StringConstraints(max_length=100)] | None = None


class TaxRateRead(ReadSchema):
    id: str
    country: str | None
    percent: Decimal
    inclusive: bool
    name: str | None
