"""Carriers behind one interface: ``simulator`` (default, offline) and ``twilio``."""

from __future__ import annotations

from commbase.calls.providers.base import CallProvider, Dialed, ProviderError, ProviderEvent
from commbase.settings import Settings


def provider_for(settings: Settings) -> CallProvider:
    """The provider the settings name."""
    if settings.call_provider == "twilio":
        from commbase.calls.providers.twilio import TwilioProvider

        return TwilioProvider(settings)
    from commbase.calls.providers.simulator import SimulatorProvider

    return SimulatorProvider(speed=settings.simulator_speed)


__all__ = ["CallProvider", "Dialed", "ProviderError", "ProviderEvent", "provider_for"]
