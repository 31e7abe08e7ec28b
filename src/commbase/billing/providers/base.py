"""What every payment provider offers and reports.

A provider starts a payment the customer completes (``checkout``: a Stripe
PaymentIntent, a PayPal order, a Cashfree order), charges a saved payment method
off-session (``charge_saved``: Stripe and the simulator), refunds, and turns its
webhook into a verified ``ProviderEvent``. Every request carries ``reference``,
the id of the row that asked for it, as its idempotency key: a retried request
never pays or refunds twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from commbase.billing.providers.enums import Outcome


@dataclass(frozen=True)
class PaymentRequest:
    reference: str  # our row's id: the invoice payment or the pending ledger entry
    amount: int  # minor units
    currency: str
    description: str
    metadata: dict[str, str]
    livemode: bool = True
    customer_id: str | None = None  # ours, or the provider's customer for saved cards
    payment_method: str | None = None  # a saved one (charge_saved)
    customer_phone: str | None = None
    customer_email: str | None = None
    return_url: str | None = None


@dataclass(frozen=True)
class ProviderPayment:
    """A provider's answer about one payment."""

    provider_payment_id: str
    outcome: Outcome
    client_secret: str | None = None  # Stripe: confirm with it
    approval_url: str | None = None  # PayPal: the payer approves there
    payment_session_id: str | None = None  # Cashfree: the checkout opens with it
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    provider_refund_id: str
    outcome: Outcome
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """One verified webhook: what happened to which provider payment."""

    event_id: str
    outcome: Outcome | None  # None: nothing about a payment's result
    provider_payment_id: str | None
    amount: int | None = None
    currency: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class PaymentDeclined(Exception):
    """The provider answered and refused for good (declined card, bad request)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed; the same request may be retried."""


class PaymentGateway(Protocol):
    name: str

    async def checkout(self, request: PaymentRequest) -> ProviderPayment:
        """Start a payment the customer completes; its webhook reports the result."""
        ...

    async def charge_saved(self, request: PaymentRequest) -> ProviderPayment:
        """Charge ``request.payment_method`` off-session. Raises ``PaymentDeclined``."""
        ...

    async def refund(
        self, *, provider_payment_id: str, amount: int, currency: str, reference: str
    ) -> ProviderRefund:
        """Give ``amount`` of a payment back to the payer."""
        ...

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """The event, if the provider sent it (``InvalidRequest`` otherwise)."""
        ...
