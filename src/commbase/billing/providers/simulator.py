"""The offline payment provider, like the call simulator: no network, and the
payment method's token decides what happens, so dunning can be exercised end to
end on a laptop or in tests.

Tokens: ``sim_card_ok`` (and any other ``sim_`` token) pays;
``sim_card_declined`` is declined (``card_declined``);
``sim_card_insufficient`` is declined (``insufficient_funds``);
``sim_card_unavailable`` fails as an outage (retried like a network error).
A checkout needs a token too (``payment_method``), and is paid at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from commbase.billing.providers.base import (
    PaymentDeclined,
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    ProviderUnavailable,
)
from commbase.billing.providers.enums import Outcome
from commbase.core.errors import InvalidRequest, invalid

UNAVAILABLE = "sim_card_unavailable"
DECLINES = {
    "sim_card_declined": ("card_declined", "The simulated card was declined"),
    "sim_card_insufficient": ("insufficient_funds", "The simulated card has no funds"),
}


def _id(prefix: str, reference: str) -> str:
    return f"{prefix}_{hashlib.sha256(reference.encode()).hexdigest()[:24]}"


class SimulatorGateway:
    name = "simulator"

    async def checkout(self, request: PaymentRequest) -> ProviderPayment:
        if not (request.payment_method or "").startswith("sim_"):
            raise invalid(
                "The simulator pays with a sim_ payment method (e.g. sim_card_ok)",
                "payment_method",
            )
        return await self.charge_saved(request)

    async def charge_saved(self, request: PaymentRequest) -> ProviderPayment:
        token = request.payment_method or ""
        if token == UNAVAILABLE:
            raise ProviderUnavailable("The simulated provider is unavailable")
        if token in DECLINES:
            code, message = DECLINES[token]
            raise PaymentDeclined(code, message)
        return ProviderPayment(
            provider_payment_id=_id("simpay", request.reference), outcome=Outcome.SUCCEEDED
        )

    async def refund(
        self, *, provider_payment_id: str, amount: int, currency: str, reference: str
    ) -> ProviderRefund:
        return ProviderRefund(provider_refund_id=_id("simre", reference), outcome=Outcome.SUCCEEDED)

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        raise InvalidRequest("The simulator sends no webhooks")
