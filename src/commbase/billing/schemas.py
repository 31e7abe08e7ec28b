"""Billing API shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_serializer

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Currency

Amount = Annotated[int, Field(ge=0, le=10**12, description="Minor units (cents)")]


class WalletCreate(AppSchema):
    owner_type: Literal["organization", "user", "agent_session"] = "organization"
    owner_id: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Defaults to the organization for owner_type=organization"
    )
    currency: Currency = "USD"
    provider: Literal["manual", "stripe"] = "manual"
    auto_recharge: bool = False
    auto_recharge_threshold: Amount | None = None
    auto_recharge_amount: Amount | None = None
    low_balance_threshold: Amount | None = None
    daily_spend_limit: Amount | None = None


class WalletUpdate(AppSchema):
    provider: Literal["manual", "stripe"] | None = None
    provider_customer_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    provider_payment_method_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    auto_recharge: bool | None = None
    auto_recharge_threshold: Amount | None = None
    auto_recharge_amount: Amount | None = None
    low_balance_threshold: Amount | None = None
    daily_spend_limit: Amount | None = None
    status: Literal["active", "frozen"] | None = None


class WalletRead(ReadSchema):
    id: str
    owner_type: str
    owner_id: str
    currency: str
    balance: int
    held: int
    available: int = 0
    balance_minutes: int
    held_minutes: int
    status: str
    provider: str
    auto_recharge: bool
    auto_recharge_threshold: int | None
    auto_recharge_amount: int | None
    low_balance_threshold: int | None
    daily_spend_limit: int | None
    last_transaction_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, wallet: Any) -> WalletRead:
        read = cls.model_validate(wallet)
        read.available = wallet.balance - wallet.held
        return read


class TopUpCreate(AppSchema):
    amount: Annotated[int, Field(ge=0, le=10**10)]
    minutes: Annotated[int, Field(ge=0, le=10**6)] = 0
    provider: Literal["manual", "stripe"] = "manual"
    plan: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Package name, e.g. 'popular'"
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class AdjustmentCreate(AppSchema):
    amount: Annotated[int, Field(ge=-(10**10), le=10**10)] = Field(
        description="Minor units; negative takes money away"
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class LedgerEntryRead(ReadSchema):
    id: str
    wallet_id: str
    type: str
    category: str
    status: str
    amount: int
    minutes: int
    currency: str
    balance_before: int
    balance_after: int
    minutes_before: int
    minutes_after: int
    related_call_id: str | None
    user_id: str | None
    agent_session_id: str | None
    payment_method: str | None
    provider_transaction_id: str | None
    plan: str | None
    description: str | None
    receipt_number: str | None
    details: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None


class TopUpResult(AppSchema):
    provider: str
    transaction: LedgerEntryRead | None = None
    payment_intent: dict[str, Any] | None = None


class RateSet(AppSchema):
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    line_type: Literal["mobile", "landline", "fixed_line", "voip", "toll_free", "other"] | None = (
        None
    )
    per_minute: Annotated[Decimal, Field(ge=0, le=1000, max_digits=12, decimal_places=6)]
    currency: Currency = "USD"


class RateRead(ReadSchema):
    id: str
    country: str | None
    line_type: str | None
    per_minute: Decimal
    currency: str
    updated_at: datetime

    @field_serializer("per_minute")
    def _as_string(self, value: Decimal) -> str:
        return format(value.normalize(), "f")


class RevenueDay(AppSchema):
    date: str
    total_revenue: int
    transaction_count: int
    avg_transaction: int


class RevenueReport(AppSchema):
    month: str
    timezone: str
    currency: str | None
    total_revenue: int
    transaction_count: int
    days: list[RevenueDay]
