"""Money received by hand (a bank transfer, cash): recorded at once by an operator
(``POST /v1/billing/invoices/{id}/payments``); refunds are paid back by hand too."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from commbase.billing.providers.base import (
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
)
from commbase.billing.providers.enums import Outcome
from commbase.core.errors import InvalidRequest, invalid


class ManualGateway:
    name = "manual"

    async def checkout(self, request: PaymentRequest) -> ProviderPayment:
        raise invalid(
            "Manual payments are recorded with POST /v1/billing/invoices/{id}/payments",
            "provider",
        )

    async def charge_saved(self, request: PaymentRequest) -> ProviderPayment:
        return await self.checkout(request)

    async def refund(
        self, *, provider_payment_id: str, amount: int, currency: str, reference: str
    ) -> ProviderRefund:
        digest = hashlib.sha256(reference.encode()).hexdigest()[:24]
        return ProviderRefund(provider_refund_id=f"manual_{digest}", outcome=Outcome.SUCCEEDED)

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        raise InvalidRequest("Manual payments have no webhooks")
