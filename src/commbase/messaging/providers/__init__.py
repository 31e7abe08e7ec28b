"""Messaging providers behind one interface: the offline simulator and the WhatsApp
Cloud API."""

from __future__ import annotations

from typing import Any

import httpx

from commbase.messaging.enums import ProviderName
from commbase.messaging.models import ChannelAccount
from commbase.messaging.providers.base import MessagingProvider
from commbase.messaging.providers.simulator import SimulatorProvider
from commbase.messaging.providers.whatsapp import WhatsAppProvider


def provider_for(
    name: str,
    *,
    account: ChannelAccount,
    access_token: str | None,
    services: dict[str, Any],
) -> MessagingProvider:
    """The provider a message goes through. ``services["whatsapp_transport"]`` (an
    ``httpx`` transport) replaces the network in tests."""
    if name == ProviderName.WHATSAPP:
        transport: httpx.AsyncBaseTransport | None = services.get("whatsapp_transport")
        return WhatsAppProvider(
            phone_number_id=account.phone_number_id or "",
            access_token=access_token or "",
            transport=transport,
        )
    return SimulatorProvider()
