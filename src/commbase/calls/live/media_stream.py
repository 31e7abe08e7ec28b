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
from typing import Any

import orjson

from commbase.calls.live import protocol
from commbase.calls.live.bus import Mailbox
from commbase.calls.live.carrier import MAX_CARRIER_FRAME_BYTES, CarrierBridge, CarrierTransport
from commbase.calls.live.context import LiveContext
from commbase.calls.live.service import LiveCall

MAX_STREAM_FRAME_BYTES = MAX_CARRIER_FRAME_BYTES


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


class MediaStreamRelay(CarrierBridge):
    """One Media Streams socket, bridged to the call's agent through the bus."""

    kind = "stream"

    def __init__(
        self, ctx: LiveContext, *, call: LiveCall, transport: CarrierTransport, inbox: Mailbox
    ) -> None:
        super().__init__(ctx, call=call, transport=transport, inbox=inbox)
        self.stream_sid: str | None = None
        self._started = asyncio.Event()

    async def _ready(self) -> None:
        await self._started.wait()  # frames name the stream: none before ``start``

    def _translate(self, data: bytes) -> bytes | None:
        assert self.stream_sid is not None
        return to_media_stream(data, self.stream_sid)

    async def _heard(self, message: dict[str, Any]) -> str | None:
        """Pass one carrier event on; ``stopped`` once the stream has stopped."""
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
                return None
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
            return "stopped"
        return None


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
