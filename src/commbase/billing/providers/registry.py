"""Which gateway serves a provider name. ``services["payments_transport"]`` (an httpx
transport) replaces the network for PayPal and Cashfree in tests, as
``whatsapp_transport`` does for messaging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from commbase.billing.providers.base import PaymentGateway
from commbase.billing.providers.cashfree import CashfreeGateway
from commbase.billing.providers.enums import ProviderName
from commbase.billing.providers.manual import ManualGateway
from commbase.billing.providers.paypal import PayPalGateway
from commbase.billing.providers.simulator import SimulatorGateway
from commbase.billing.providers.stripe import StripeGateway
from commbase.settings import Settings


def gateway(name: str, *, services: Mapping[str, Any]) -> PaymentGateway:
    """The gateway for ``name``; a 422 naming ``provider`` if this server has none."""
    settings = services["settings"]
    assert isinstance(settings, Settings)
    transport: httpx.AsyncBaseTransport | None = services.get("payments_transport")
    match ProviderName(name):
        case ProviderName.STRIPE:
            return StripeGateway(settings)
        case ProviderName.PAYPAL:
            return PayPalGateway(settings, transport)
        case ProviderName.CASHFREE:
            return CashfreeGateway(settings, transport)
        case ProviderName.SIMULATOR:
            return SimulatorGateway()
        case ProviderName.MANUAL:
            return ManualGateway()


def saved_method_provider(payment_method: str | None) -> ProviderName | None:
    """Which provider charges a customer's saved payment method: Stripe's ``pm_``/
    ``card_`` ids, the simulator's ``sim_`` tokens; None for anything else."""
    if not payment_method:
        return None
    if payment_method.startswith(("pm_", "card_")):
        return ProviderName.STRIPE
    if payment_method.startswith("sim_"):
        return ProviderName.SIMULATOR
    return None
