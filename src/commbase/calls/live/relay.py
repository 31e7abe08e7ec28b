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

import asyncio
import contextlib
import time
from typing import Any, Protocol

import orjson
import structlog

from commbase.calls.live import protocol
from commbase.calls.live.bus import RELAY_SECONDS, Mailbox, Side
from commbase.calls.live.context import LiveContext
from commbase.calls.live.service import LiveCall
from commbase.calls.live.transcript import LiveTranscript

log = structlog.get_logger("commbase.calls.live")
MAX_CARRIER_FRAME_BYTES = 65_536
TO_CARRIER = RELAY_SECONDS.labels("agent_to_carrier")


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


class CarrierTransport(Protocol):
    async def receive(self) -> str | bytes | None: ...

    async def send(self, data: bytes) -> None: ...


class TwilioRelay:
    """One ConversationRelay socket, bridged to the call's agent through the bus."""

    def __init__(
        self, ctx: LiveContext, *, call: LiveCall, transport: CarrierTransport, inbox: Mailbox
    ) -> None:
        self.ctx = ctx
        self.call = call
        self.transport = transport
        self.inbox = inbox
        self.language: str | None = None
        self._received_at: float | None = None
        self.transcript = LiveTranscript.shared(
            ctx.services,
            ctx.database,
            call=call,
            retention_default=ctx.settings.transcript_retention_days,
        )

    async def _to_agent(self, data: bytes) -> None:
        await self.ctx.bus.publish(self.call.id, Side.AGENT, data, received_at=self._received_at)

    async def run(self) -> str:
        tasks = [asyncio.create_task(self._from_carrier()), asyncio.create_task(self._to_carrier())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason: str = next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await self.transcript.close(completed=False)
            with contextlib.suppress(Exception):
                await self._to_agent(protocol.frame("status", carrier="disconnected"))
        return reason

    async def _to_carrier(self) -> str:
        while True:
            translated = to_twilio(await self.inbox.get())
            if translated is None:
                continue
            await self.transport.send(translated)
            TO_CARRIER.observe(time.time() - self.inbox.received_at)
            if translated.startswith(b'{"type":"end"'):
                return "ended"

    async def _from_carrier(self) -> str:
        while True:
            raw = await self.transport.receive()
            if raw is None:
                return "carrier_closed"
            self._received_at = time.time()
            if len(raw) > MAX_CARRIER_FRAME_BYTES:
                log.warning("relay frame too large", call_id=self.call.id, size=len(raw))
                continue
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.warning("relay frame is not JSON", call_id=self.call.id)
                continue
            if isinstance(message, dict):
                await self._heard(message)

    async def _heard(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        at = self.call.offset_s()
        if kind == "setup":
            await self._to_agent(
                protocol.frame("status", carrier="connected", carrier_name="twilio")
            )
        elif kind == "prompt":
            text = message.get("voicePrompt")
            if not isinstance(text, str) or not text.strip():
                return
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
