"""Payments, refunds, checkouts and dunning settings as the API shows them."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from commbase.billing.providers.enums import DunningAction, ProviderName
from commbase.core.schemas import AppSchema, ReadSchema

Url = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://\S+$")]


class CheckoutCreate(AppSchema):
    """Pay (part of) an open invoice through a provider."""

    provider: Literal[
        ProviderName.STRIPE, ProviderName.PAYPAL, ProviderName.CASHFREE, ProviderName.SIMULATOR
    ]
    amount: Annotated[int, Field(ge=1, le=10**12, description="Minor units; default: all due")] | (
        None
    ) = None
    payment_method: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        default=None, description="Simulator: a sim_ token; default: the customer's saved one"
    )
    customer_phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{6,16}$")] | None = Field(
        default=None, description="Cashfree asks for the payer's phone"
    )
    return_url: Url | None = Field(
        default=None, description="Where PayPal/Cashfree send the payer back"
    )


class PaymentRead(ReadSchema):
    id: str
    invoice_id: str
    amount: int
    currency: str
    provider: str
    status: str = Field(description="pending, succeeded or failed (only moves forward)")
    provider_payment_id: str | None
    reference: str | None
    refunded_amount: int
    failure_code: str | None
    failure_message: str | None
    automatic: bool = Field(description="Charged to a saved payment method (renewal, dunning)")
    ledger_entry_id: str | None
    paid_at: datetime | None
    created_at: datetime


class CheckoutRead(AppSchema):
    payment: PaymentRead
    client_secret: str | None = Field(default=None, description="Stripe: confirm the intent")
    approval_url: str | None = Field(default=None, description="PayPal: the payer approves")
    payment_session_id: str | None = Field(default=None, description="Cashfree checkout")


class RefundCreate(AppSchema):
    amount: Annotated[int, Field(ge=1, le=10**12)] | None = Field(
        default=None, description="Minor units; default: everything not refunded yet"
    )
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class RefundRead(ReadSchema):
    id: str
    payment_id: str = Field(description="The payment this refund gives back (part of)")
    invoice_id: str
    amount: int
    currency: str
    provider: str
    status: str = Field(description="pending (at the provider), succeeded or failed")
    reason: str | None
    provider_refund_id: str | None
    failure_code: str | None
    ledger_entry_id: str | None
    created_at: datetime
    completed_at: datetime | None


class DunningSet(AppSchema):
    """After a failed renewal charge: retry after these days (counted from the first
    failure, ascending), then cancel or pause the subscription."""

    retry_days: Annotated[list[Annotated[int, Field(ge=1, le=60)]], Field(max_length=10)]
    final_action: DunningAction

    @field_validator("retry_days")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("retry_days must be strictly ascending")
        return value


class DunningRead(AppSchema):
    plan_id: str
    retry_days: list[int]
    final_action: DunningAction


class WebhookResult(AppSchema):
    received: bool = True
    outcome: str = Field(description="succeeded, failed or ignored")
