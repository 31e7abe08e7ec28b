"""The carrier's end of a live call in audio mode: Twilio Media Streams.

For a call with ``live_audio``, Twilio runs ``<Connect><Stream url="wss://{public
host}/v1/providers/twilio/stream/{call id}">`` and opens a WebSocket there, signing the
handshake with ``X-Twilio-Signature`` like ConversationRelay's (checked before the
socket is accepted). Then, as JSON text frames (``event`` names the kind):

    in   connected  {protocol, version}
         start      {streamSid, start: {callSid, tracks, mediaFormat {encoding
                     "audio/x-mulaw", sampleRate 8000, channels 1}, customParameters}}
         media      {streamSid, media: {track, chunk, timestamp, payload}}  base64 μ-law
         mark       {streamSid, mark: {name}}  audio sent before the mark was played
         dtmf       {streamSid, dtmf: {track, digit}}
         stop       {streamSid, stop: {callSid}}
    out  media      {event, streamSid, media: {payload}}
         mark       {event, streamSid, mark: {name}}
         clear      {event, streamSid}  drop the audio buffered and not yet played

The agent's ``audio``/``mark``/``clear`` become ``media``/``mark``/``clear``; the
carrier's ``start``, ``media``, ``mark`` and ``dtmf`` become the agent's ``status``
(``carrier`` connected, with the stream's tracks and media format), ``audio``
(``payload``, ``timestamp`` in ms from the stream's start, ``track``), ``mark`` and
``dtmf``. Nothing is transcribed: the agent brings its own speech stack. A hangup
or transfer ends the call through Twilio's REST API, which stops the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
import structlog

from commbase.calls.live import protocol
from commbase.calls.live.bus import RELAY_SECONDS, Mailbox, Side
from commbase.calls.live.context import LiveContext
from commbase.calls.live.relay import CarrierTransport
from commbase.calls.live.service import LiveCall

log = structlog.get_logger("commbase.calls.live")
MAX_STREAM_FRAME_BYTES = 65_536
TO_CARRIER = RELAY_SECONDS.labels("agent_to_carrier")


def to_media_stream(data: bytes, stream_sid: str) -> bytes | None:
    """An agent frame from the mailbox as Media Streams wants it (None: not sent)."""
    message = orjson.loads(data)
    kind = message.get("type")
    if kind == "audio":
        out: dict[str, Any] = {"media": {"payload": message.get("payload")}}
    elif kind == "mark":
        out = {"mark": {"name": message.get("name")}}
    elif kind == "clear":
        out = {}
    else:
        return None  # hangup / transfer: through the REST API
    event = "media" if kind == "audio" else kind
    return orjson.dumps({"event": event, "streamSid": stream_sid} | out)


class MediaStreamRelay:
    """One Media Streams socket, bridged to the call's agent through the bus."""

    def __init__(
        self, ctx: LiveContext, *, call: LiveCall, transport: CarrierTransport, inbox: Mailbox
    ) -> None:
        self.ctx = ctx
        self.call = call
        self.transport = transport
        self.inbox = inbox
        self.stream_sid: str | None = None
        self._started = asyncio.Event()
        self._received_at: float | None = None

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
            with contextlib.suppress(Exception):
                await self._to_agent(protocol.frame("status", carrier="disconnected"))
        return reason

    async def _to_carrier(self) -> str:
        await self._started.wait()  # frames name the stream: none before ``start``
        assert self.stream_sid is not None
        while True:
            translated = to_media_stream(await self.inbox.get(), self.stream_sid)
            if translated is None:
                continue
            await self.transport.send(translated)
            TO_CARRIER.observe(time.time() - self.inbox.received_at)

    async def _from_carrier(self) -> str:
        while True:
            raw = await self.transport.receive()
            if raw is None:
                return "carrier_closed"
            self._received_at = time.time()
            if len(raw) > MAX_STREAM_FRAME_BYTES:
                log.warning("stream frame too large", call_id=self.call.id, size=len(raw))
                continue
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.warning("stream frame is not JSON", call_id=self.call.id)
                continue
            if isinstance(message, dict) and await self._heard(message):
                return "stopped"

    async def _heard(self, message: dict[str, Any]) -> bool:
        """Pass one carrier event on; True once the stream has stopped."""
        event = message.get("event")
        if event == "media":
            media = message.get("media")
            if isinstance(media, dict) and isinstance(media.get("payload"), str):
                await self._to_agent(_audio(media))
        elif event == "start":
            given = message.get("start")
            start: dict[str, Any] = given if isinstance(given, dict) else {}
            sid = message.get("streamSid") or start.get("streamSid")
            if not isinstance(sid, str) or not sid:
                return False
            self.stream_sid = sid[:64]
            self._started.set()
            await self._to_agent(
                protocol.frame(
                    "status",
                    carrier="connected",
                    carrier_name="twilio",
                    mode="audio",
                    stream_sid=self.stream_sid,
                    tracks=start.get("tracks"),
                    media_format=start.get("mediaFormat"),
                )
            )
        elif event == "mark":
            mark = message.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if isinstance(name, str):
                await self._to_agent(protocol.frame("mark", name=name[:100]))
        elif event == "dtmf":
            dtmf = message.get("dtmf")
            digit = protocol.safe_digits(dtmf.get("digit") if isinstance(dtmf, dict) else None)
            if digit is not None:
                await self._to_agent(protocol.frame("dtmf", digit=digit))
        elif event == "stop":
            return True
        return False


def _audio(media: dict[str, Any]) -> bytes:
    timestamp = media.get("timestamp")
    try:
        at = int(timestamp) if timestamp is not None else None
    except (TypeError, ValueError):
        at = None
    track = media.get("track")
    return protocol.frame(
        "audio",
        payload=media["payload"],
        timestamp=at,
        track=track if track in ("inbound", "outbound") else "inbound",
    )
