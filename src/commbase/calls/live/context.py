"""What every live socket of a process shares: database, settings, bus, carriers."""

from __future__ import annotations

import ssl
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from commbase.calls.live.board import CallBoard
from commbase.calls.live.bus import LiveBus, live_bus_of
from commbase.calls.providers import Carriers, carriers_of
from commbase.core.db import Database
from commbase.settings import Settings

STATUS_POLL_S = 1.0  # how often an attached agent's call status is read


@dataclass
class LiveContext:
    database: Database
    settings: Settings
    bus: LiveBus
    services: MutableMapping[str, Any]
    status_poll_s: float = STATUS_POLL_S
    callee_pace_s: float = 0.3  # the simulated callee's pause before it speaks
    # Connect-out's TLS context for ``wss://`` agents (None: the system's trust store).
    connect_ssl: ssl.SSLContext | None = None
    _board: CallBoard | None = field(default=None, repr=False)

    @property
    def board(self) -> CallBoard:
        """The process's live calls, read once per ``status_poll_s`` for all watchers."""
        if self._board is None:
            self._board = CallBoard(self.database, interval_s=lambda: self.status_poll_s)
        return self._board

    @property
    def carriers(self) -> Carriers:
        """The process's carriers (looked up each time: tests install stand-ins)."""
        return carriers_of(self.services)

    @classmethod
    def of(cls, app: Any) -> LiveContext:
        """The app's context, built on first use and kept with its shared services."""
        services = app.state.job_services
        context = services.get("live_context")
        if context is None:
            settings: Settings = app.state.settings
            context = cls(
                database=app.state.db,
                settings=settings,
                bus=live_bus_of(
                    services,
                    redis=app.state.redis,
                    url=settings.redis_url,
                ),
                services=services,
            )
            services["live_context"] = context
        result: LiveContext = context
        return result
