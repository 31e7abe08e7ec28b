"""Configuring a number at its carrier, behind one interface.

* ``simulator``: any number; nothing to configure.
* ``twilio``: the number must be one of the account's incoming phone numbers; its
  voice URL is pointed at commbase's signed inbound webhook and its status
  callback at the call status callback, through the twilio SDK. The SDK's HTTP
  goes through httpx (``TwilioHttpx``), so ``services["twilio_transport"]`` (an
  httpx transport) replaces the network in tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from commbase.calls.enums import ProviderName
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.calls.providers.twilio import STATUS_PATH
from commbase.core.errors import Conflict, ServiceUnavailable
from commbase.settings import Settings

INBOUND_PATH = "/v1/providers/twilio/voice/inbound"
TRANSPORT_KEY = "twilio_transport"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Configured:
    """What the carrier calls the number, and what was set there."""

    provider_sid: str | None
    state: dict[str, Any] = field(default_factory=dict)


class NumberCarrier(Protocol):
    async def configure(self, number: PhoneNumber) -> Configured:
        """Point the carrier's number at commbase; Conflict if the carrier refuses
        (e.g. the account does not own it), ServiceUnavailable if it cannot be asked."""
        ...


class SimulatorNumbers:
    async def configure(self, number: PhoneNumber) -> Configured:
        return Configured(provider_sid=None, state={"simulated": True})


class TwilioHttpx(HttpClient):  # type: ignore[misc]
    """The twilio SDK's HTTP client, over httpx (the same transport tests replace)."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(logging.getLogger("commbase.twilio"), False, TIMEOUT_S)
        self._client = httpx.Client(transport=transport, timeout=TIMEOUT_S)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        response = self._client.request(
            method,
            uri,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or TIMEOUT_S,
            follow_redirects=allow_redirects,
        )
        return TwilioResponse(response.status_code, response.text, response.headers)


class TwilioNumbers:
    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None) -> None:
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ServiceUnavailable(
                "Twilio is not configured (COMMBASE_TWILIO_ACCOUNT_SID/AUTH_TOKEN)"
            )
        self.settings = settings
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=TwilioHttpx(transport),
        )

    def _urls(self) -> dict[str, str]:
        base = self.settings.public_base_url.rstrip("/")
        return {
            "voice_url": base + INBOUND_PATH,
            "voice_method": "POST",
            "status_callback": base + STATUS_PATH,
            "status_callback_method": "POST",
        }

    def _configure(self, number: str) -> Configured:
        found = self.client.incoming_phone_numbers.list(phone_number=number, limit=1)
        if not found:
            raise Conflict(
                f"{number} is not a phone number of the Twilio account; buy or port it first",
                number=number,
            )
        urls = self._urls()
        updated = self.client.incoming_phone_numbers(found[0].sid).update(**urls)
        return Configured(provider_sid=str(updated.sid), state={"configured": urls})

    async def configure(self, number: PhoneNumber) -> Configured:
        try:
            return await asyncio.to_thread(self._configure, number.number)
        except TwilioException as exc:
            raise Conflict(f"Twilio refused to configure {number.number}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"Twilio could not be reached: {exc}") from exc


def carrier_for(provider: str, *, settings: Settings, services: Mapping[str, Any]) -> NumberCarrier:
    """The carrier that configures numbers of ``provider``."""
    if provider == ProviderName.TWILIO:
        return TwilioNumbers(settings, transport=services.get(TRANSPORT_KEY))
    return SimulatorNumbers()
