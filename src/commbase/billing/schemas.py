"""Billing API shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    computed_field,
    field_serializer,
    field_validator,
    model_validator,
)

from commbase.billing.enums import (
    LedgerCategory,
    LedgerStatus,
    LedgerType,
    OwnerType,
    PaymentProvider,
    WalletStatus,
)
from commbase.core.phones import LineType
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Currency, not_null

Amount = Annotated[
    int, Field(ge=0, le=10**12, description="Minor units of the wallet's currency (cents, yen...)")
]


class WalletCreate(AppSchema):
    owner_type: OwnerType = OwnerType.ORGANIZATION
    owner_id: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Defaults to the organization for owner_type=organization"
    )
    currency: Currency = "USD"
    provider: PaymentProvider = PaymentProvider.MANUAL
    auto_recharge: bool = False
    auto_recharge_threshold: Amount | None = None
    auto_recharge_amount: Amount | None = None
    low_balance_threshold: Amount | None = None
    daily_spend_limit: Amount | None = None


class WalletUpdate(AppSchema):
    """Fields left out stay as they are; null clears a threshold, a limit or a provider
    id, and is refused (422) for ``provider``, ``auto_recharge`` and ``status``."""

    provider: PaymentProvider | None = None
    provider_customer_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    provider_payment_method_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    auto_recharge: bool | None = None
    auto_recharge_threshold: Amount | None = None
    auto_recharge_amount: Amount | None = None
    low_balance_threshold: Amount | None = None
    daily_spend_limit: Amount | None = None
    status: WalletStatus | None = None

    _not_null = field_validator("provider", "auto_recharge", "status")(not_null)


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
    livemode: bool
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
    """A top-up adds money, package minutes or both; a top-up of nothing is a 422.
    Provider top-ups (Stripe, PayPal, Cashfree) need an amount (that much is charged)."""

    amount: Annotated[int, Field(ge=0, le=10**10, description="Minor units")] = 0
    minutes: Annotated[int, Field(ge=0, le=10**6, description="Package minutes")] = 0
    provider: PaymentProvider = PaymentProvider.MANUAL
    plan: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Package name, e.g. 'popular'"
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="after")
    def _something(self) -> TopUpCreate:
        if self.amount == 0 and (self.minutes == 0 or self.provider != PaymentProvider.MANUAL):
            raise ValueError("amount must be at least 1 (a top-up of nothing is refused)")
        return self


class AdjustmentCreate(AppSchema):
    amount: Annotated[int, Field(ge=-(10**10), le=10**10)] = Field(
        description="Minor units; negative takes money away; not 0"
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment of 0 changes nothing")
        return value


class RefundCreate(AppSchema):
    """Leave both amounts out to refund everything not refunded yet; give one or
    both for a partial refund (a missing one is 0)."""

    amount: Annotated[int, Field(ge=0, le=10**12, description="Minor units")] | None = None
    minutes: Annotated[int, Field(ge=0, le=10**6, description="Package minutes")] | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="after")
    def _something(self) -> RefundCreate:
        if (self.amount, self.minutes) != (None, None) and not (self.amount or self.minutes):
            raise ValueError("a refund of nothing is refused: give amount or minutes above 0")
        return self


class LedgerEntryRead(ReadSchema):
    id: str
    wallet_id: str
    type: LedgerType
    category: LedgerCategory
    status: LedgerStatus
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
    refund_of: str | None = Field(description="The entry this refund gives back")
    refunded_amount: int = Field(description="Refunded so far (completed and pending refunds)")
    refunded_minutes: int
    error_code: str | None = Field(description="Why a provider payment failed")
    error_message: str | None
    details: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None

    @computed_field(  # type: ignore[prop-decorator]
        description="A completed top-up's receipt as a PDF (seed 003); its HTML: .html"
    )
    @property
    def receipt_url(self) -> str | None:
        completed = self.status == LedgerStatus.COMPLETED
        if completed and self.category == LedgerCategory.WALLET_TOPUP:
            return f"/v1/billing/receipts/{self.id}.pdf"
        return None


class PaymentIntentRead(AppSchema):
    id: str
    client_secret: str | None
    status: str


class TopUpResult(AppSchema):
    provider: PaymentProvider
    transaction: LedgerEntryRead = Field(
        description="The ledger entry: completed for manual top-ups, pending for Stripe ones "
        "until Stripe reports the payment"
    )
    payment_intent: PaymentIntentRead | None = Field(
        default=None,
        description="Stripe top-ups: confirm it with its client_secret; PayPal and "
        "Cashfree top-ups: the provider's order (id)",
    )
    approval_url: str | None = Field(default=None, description="PayPal: the payer approves")
    payment_session_id: str | None = Field(default=None, description="Cashfree's checkout")


class RateSet(AppSchema):
    direction: Literal["outbound", "inbound"] = Field(
        default="outbound",
        description="outbound: calls placed, priced by the destination's country; inbound: "
        "calls answered on the organization's numbers, priced by the caller's country",
    )
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    line_type: LineType | None = Field(
        default=None,
        description="Null: any line type. A fixed_line_or_mobile number with no rate of its "
        "own is priced at the higher of its country's mobile and landline rates",
    )
    per_minute: Annotated[Decimal, Field(ge=0, le=1000, max_digits=12, decimal_places=6)]
    currency: Currency = "USD"


class RateRead(ReadSchema):
    id: str
    direction: str
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


class StripeWebhookResult(AppSchema):
    received: Literal["true"]
    outcome: Literal["credited", "failed", "ignored"]
