"""The carrier's end of a live call: Twilio ConversationRelay (Telnyx speaks the same).

Twilio opens a WebSocket to the ``url`` of ``<ConversationRelay>`` once the call is
answered, signing the handshake with ``X-Twilio-Signature`` (HMAC-SHA1 of the
``wss://`` URL with the account's auth token, checked with the SDK's
``RequestValidator`` before the socket is accepted). Then, as JSON text frames:

    in   setup      {callSid, from, to, direction, customParameters, ...}
         prompt     {voicePrompt, lang, last}   the caller's speech as text
         dtmf       {digit}
         interrupt  {utteranceUntilInterrupt, durationUntilInterruptMs}
         error      {description}
    out  text       {token, last, interruptible, lang?}
         play       {source, loop}
         sendDigits {digits}
         language   {ttsLanguage, transcriptionLanguage}
         end        {handoffData}

Each is translated to or from the agent's frames (``protocol``). A transfer is not
sent over this socket: the call is redirected to ``<Dial>`` through Twilio's REST
API, which ends the ConversationRelay session.
"""

from __future__ import annotations

from typing import Any

import orjson

from commbase.calls.live import protocol
from commbase.calls.live.bus import Mailbox
from commbase.calls.live.carrier import MAX_CARRIER_FRAME_BYTES, CarrierBridge, CarrierTransport
from commbase.calls.live.context import LiveContext
from commbase.calls.live.service import LiveCall
from commbase.calls.live.transcript import LiveTranscript

__all__ = ["MAX_CARRIER_FRAME_BYTES", "CarrierTransport", "TwilioRelay", "to_twilio"]
_END = b'{"type":"end"'


def to_twilio(data: bytes) -> bytes | None:
    """An agent frame from the mailbox as ConversationRelay wants it (None: not sent)."""
    message = orjson.loads(data)
    kind = message.get("type")
    if kind == "say":
        out: dict[str, Any] = {
            "type": "text",
            "token": message.get("text", ""),
            "last": bool(message.get("last")),
            "interruptible": bool(message.get("interruptible", True)),
        }
    elif kind == "play":
        out = {"type": "play", "source": message.get("url"), "loop": message.get("loop", 1)}
    elif kind == "dtmf":
        out = {"type": "sendDigits", "digits": message.get("digits")}
    elif kind == "language":
        language = message.get("language")
        out = {"type": "language", "ttsLanguage": language, "transcriptionLanguage": language}
    elif kind == "hangup":
        reason = message.get("reason") or "agent_hangup"
        out = {"type": "end", "handoffData": orjson.dumps({"reason": reason}).decode()}
    else:
        return None  # transfer: done through the REST API
    return orjson.dumps(out)


class TwilioRelay(CarrierBridge):
    """One ConversationRelay socket, bridged to the call's agent through the bus."""

    kind = "relay"

    def __init__(
        self, ctx: LiveContext, *, call: LiveCall, transport: CarrierTransport, inbox: Mailbox
    ) -> None:
        super().__init__(ctx, call=call, transport=transport, inbox=inbox)
        self.transcript = LiveTranscript.shared(
            ctx.services,
            ctx.database,
            call=call,
            retention_default=ctx.settings.transcript_retention_days,
        )

    def _translate(self, data: bytes) -> bytes | None:
        return to_twilio(data)

    def _ends(self, translated: bytes) -> bool:
        return translated.startswith(_END)

    async def _closing(self) -> None:
        await self.transcript.close(completed=False)

    async def _heard(self, message: dict[str, Any]) -> str | None:
        kind = message.get("type")
        at = self.call.offset_s()
        if kind == "setup":
            await self._to_agent(
                protocol.frame("status", carrier="connected", carrier_name="twilio")
            )
        elif kind == "prompt":
            text = message.get("voicePrompt")
            if not isinstance(text, str) or not text.strip():
                return None
            language = message.get("lang") if isinstance(message.get("lang"), str) else None
            final = bool(message.get("last", True))
            await self._to_agent(
                protocol.utterance(text=text[:5000], final=final, language=language, at=at)
            )
            if final:
                self.transcript.add(speaker="callee", text=text, start=at, end=at)
        elif kind == "dtmf":
            digit = protocol.safe_digits(message.get("digit"))
            if digit is not None:
                await self._to_agent(protocol.frame("dtmf", digit=digit))
        elif kind == "interrupt":
            heard = message.get("utteranceUntilInterrupt")
            await self._to_agent(
                protocol.frame(
                    "interrupt",
                    heard=heard if isinstance(heard, str) else None,
                    duration_ms=message.get("durationUntilInterruptMs"),
                    at=at,
                )
            )
        elif kind == "error":
            description = str(message.get("description", ""))[:500]
            await self._to_agent(protocol.error("carrier_error", description))
        return None
