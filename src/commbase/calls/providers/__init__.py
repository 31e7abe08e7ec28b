"""Carriers behind one interface: ``simulator`` (default, offline) and ``twilio``.

``Carriers`` holds a process's providers by name. A call records the provider it
uses when it is placed: the one ``COMMBASE_CALL_PROVIDER`` names for live
credentials, the simulator for test-mode ones (``cb_test_`` keys), whatever the
setting says; it keeps that provider for its whole life.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from commbase.calls.enums import ProviderName
from commbase.calls.providers.base import (
    CallProvider,
    Dialed,
    DialNotSent,
    ProviderError,
    ProviderEvent,
)
from commbase.settings import Settings, get_settings

SERVICE_KEY = "call_carriers"


class Carriers:
    """The call providers of one process, by name, each built on first use."""

    def __init__(
        self, settings: Settings, *, providers: Mapping[str, CallProvider] | None = None
    ) -> None:
        self.settings = settings
        self._providers: dict[str, CallProvider] = dict(providers or {})

    def for_placement(self, *, livemode: bool) -> ProviderName:
        """The provider a new call uses: test-mode calls never reach a real carrier."""
        if not livemode:
            return ProviderName.SIMULATOR
        return ProviderName(self.settings.call_provider)

    def get(self, name: str) -> CallProvider:
        """The provider called ``name``; ``ProviderError`` if it cannot be built."""
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = _build(name, self.settings)
        return provider


def _build(name: str, settings: Settings) -> CallProvider:
    if name == ProviderName.TWILIO:
        from commbase.calls.providers.twilio import TwilioProvider

        return TwilioProvider(settings)
    if name == ProviderName.SIMULATOR:
        from commbase.calls.providers.simulator import SimulatorProvider

        return SimulatorProvider(speed=settings.simulator_speed)
    raise ProviderError(f"Unknown call provider {name!r}")


def carriers_of(services: MutableMapping[str, Any]) -> Carriers:
    """The process's ``Carriers``, kept in the app's shared services (built on first use),
    so routes and the effect runner use the same providers."""
    carriers = services.get(SERVICE_KEY)
    if not isinstance(carriers, Carriers):
        settings = services.get("settings")
        carriers = Carriers(settings if isinstance(settings, Settings) else get_settings())
        services[SERVICE_KEY] = carriers
    return carriers


__all__ = [
    "CallProvider",
    "Carriers",
    "DialNotSent",
    "Dialed",
    "ProviderError",
    "ProviderEvent",
    "carriers_of",
]
