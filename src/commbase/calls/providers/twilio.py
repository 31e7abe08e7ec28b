"""Twilio Programmable Voice: place calls with the SDK, read its status callbacks.

Callbacks arrive at ``/v1/providers/twilio/voice/status?call=<call id>`` and are
verified with the SDK's ``RequestValidator`` against the URL Twilio was given
(``COMMBASE_PUBLIC_BASE_URL`` + path + query), so a proxy in front does not break
them. The call id in that URL lets a callback find its call even when the process
that dialed died before it could store Twilio's call SID.

Twilio's Calls API takes no idempotency key, so a dial is never repeated when its
outcome is unknown (see ``calls.dialing``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import quoteattr

from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from commbase.calls.enums import ActionKind, CallStatus, ProviderName
from commbase.calls.live.twiml import (
    conversation_relay_twiml,
    media_stream_twiml,
    relay_url,
    stream_url,
)
from commbase.calls.models import Call
from commbase.calls.providers.base import Dialed, DialNotSent, ProviderError, ProviderEvent
from commbase.calls.recordings.callbacks import RECORDING_PATH
from commbase.core.time import utcnow
from commbase.settings import Settings

STATUS_PATH = "/v1/providers/twilio/voice/status"
CALL_PARAMETER = "call"  # the query parameter of the status callback URL naming our call
TWILIO_STATUSES = {status.value for status in CallStatus}


def _never_sent(exc: BaseException) -> bool:
    """True when the request certainly did not reach Twilio (no connection was made)."""
    if isinstance(exc, ConnectTimeout):
        return True
    if isinstance(exc, RequestsConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


class TwilioProvider:
    name: str = ProviderName.TWILIO
    repeatable_dial = False  # the Calls API has no idempotency key

    def __init__(self, settings: Settings) -> None:
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ProviderError("Twilio is not configured (COMMBASE_TWILIO_ACCOUNT_SID/AUTH_TOKEN)")
        self.settings = settings
        self.client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
        )

    def status_callback_url(self, call: Call) -> str:
        base = self.settings.public_base_url.rstrip("/") + STATUS_PATH
        return f"{base}?{urlencode({CALL_PARAMETER: call.id})}"

    def recording_options(self, call: Call) -> dict[str, Any]:
        """Recording parameters of a dial: none for a private call, which is never
        recorded; else the signed recording callback that stores it (``calls.recordings``)."""
        if not call.recording_enabled or call.privacy_mode:
            return {}
        base = self.settings.public_base_url.rstrip("/") + RECORDING_PATH
        return {
            "recording_status_callback": f"{base}?{urlencode({CALL_PARAMETER: call.id})}",
            "recording_status_callback_event": ["completed"],
            "recording_status_callback_method": "POST",
        }

    async def dial(self, *, call: Call, allowed_s: int, reference: str) -> Dialed:
        from_number = call.from_number or self.settings.twilio_from_number
        if not from_number:
            raise ProviderError("No caller number: set from or COMMBASE_TWILIO_FROM_NUMBER")
        base_url = self.settings.public_base_url
        twiml = outbound_twiml(call, allowed_s=allowed_s, public_base_url=base_url)
        recording = self.recording_options(call)
        try:
            created = await asyncio.to_thread(
                self.client.calls.create,
                to=call.to_number,
                from_=from_number,
                twiml=twiml,
                time_limit=allowed_s,
                record=bool(recording),
                **recording,
                status_callback=self.status_callback_url(call),
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                status_callback_method="POST",
            )
        except TwilioRestException as exc:  # Twilio answered: a definite refusal
            raise ProviderError(str(exc)) from exc
        except (RequestsConnectionError, ConnectTimeout) as exc:
            if _never_sent(exc):
                raise DialNotSent(str(exc)) from exc
            raise
        return Dialed(provider_call_id=str(created.sid), state={"direction": "outbound-api"})

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        if not call.provider_call_id:
            return
        update: dict[str, Any] = {}
        if action == ActionKind.HANGUP:
            update["status"] = "completed"
        elif action == ActionKind.DTMF:
            update["twiml"] = (
                f"<Response><Play digits={quoteattr(str(parameters['digits']))}/></Response>"
            )
        elif action == ActionKind.TRANSFER:
            update["twiml"] = f"<Response><Dial>{parameters['to']}</Dial></Response>"
        if not update:
            return
        try:
            await asyncio.to_thread(self.client.calls(call.provider_call_id).update, **update)
        except TwilioException as exc:
            raise ProviderError(str(exc)) from exc


def outbound_twiml(call: Call, *, allowed_s: int, public_base_url: str) -> str:
    """What an answered outbound call runs: ConversationRelay to commbase's socket when
    an agent talks on it (``live_agent``), else a silent pause for its allowed time."""
    if call.live_agent and call.live_audio:
        return media_stream_twiml(url=stream_url(public_base_url, call.id))
    if call.live_agent:
        return conversation_relay_twiml(url=relay_url(public_base_url, call.id))
    return f"<Response><Pause length={quoteattr(str(allowed_s))}/></Response>"


def signature_is_valid(
    *, auth_token: str, url: str, params: dict[str, str], signature: str | None
) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def event_from_callback(params: dict[str, str]) -> ProviderEvent | None:
    """The status report in a verified callback, or None if it carries no status."""
    status = params.get("CallStatus", "")
    if status not in TWILIO_STATUSES:
        return None
    occurred_at: datetime = utcnow()
    if params.get("Timestamp"):
        try:
            occurred_at = parsedate_to_datetime(params["Timestamp"])
        except (TypeError, ValueError):
            occurred_at = utcnow()
    duration = params.get("CallDuration")
    return ProviderEvent(
        status=CallStatus(status),
        occurred_at=occurred_at,
        duration_s=int(duration) if duration and duration.isdigit() else None,
        details={
            "sequence": params.get("SequenceNumber"),
            "answered_by": params.get("AnsweredBy"),
            "call_sid": params.get("CallSid"),
        },
    )
