"""Streaming a recording from the carrier through commbase.

The caller never sees the carrier's URL or credentials: commbase fetches the audio
with the Twilio account's credentials (basic auth) and passes it on chunk by chunk,
bounded in time (``TIMEOUT_S`` per read) and size (``MAX_BYTES``). Only Twilio's
API hosts are fetched. ``services["twilio_transport"]`` replaces the network in tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from commbase.calls.recordings.models import CallRecording
from commbase.core.errors import NotFound, ServiceUnavailable
from commbase.settings import Settings

TIMEOUT_S = 10.0
MAX_BYTES = 200 * 1024 * 1024  # 200 MB: hours of MP3
MEDIA_TYPE = "audio/mpeg"
CHUNK = 64 * 1024
TRANSPORT_KEY = "twilio_transport"  # as calls.phone_numbers.carriers


@dataclass
class RecordingStream:
    """An open fetch of a recording: its size if the carrier said, and its bytes."""

    size: int | None
    chunks: AsyncIterator[bytes]


def _fetchable(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com"))


async def open_stream(
    recording: CallRecording, *, settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> RecordingStream:
    """Start fetching the recording's MP3; NotFound if the carrier no longer has it,
    ServiceUnavailable if it cannot be fetched now."""
    if not recording.url or not _fetchable(recording.url):
        raise NotFound("This call has no recording commbase can fetch")
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        raise ServiceUnavailable("Twilio is not configured (COMMBASE_TWILIO_AUTH_TOKEN)")
    auth = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S, auth=auth)
    try:
        response = await client.send(
            client.build_request("GET", recording.url.removesuffix(".json") + ".mp3"),
            stream=True,
        )
    except httpx.HTTPError as exc:
        await client.aclose()
        raise ServiceUnavailable(f"The carrier could not be reached: {exc}") from exc
    if response.status_code != 200:
        await response.aclose()
        await client.aclose()
        if response.status_code == 404:
            raise NotFound("The carrier no longer has this recording")
        raise ServiceUnavailable(f"The carrier answered {response.status_code}")
    length = response.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    if size is not None and size > MAX_BYTES:
        await response.aclose()
        await client.aclose()
        raise ServiceUnavailable("The recording is larger than commbase streams")

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                sent += len(chunk)
                if sent > MAX_BYTES:
                    break  # cut off: the client sees a short body
                yield chunk
        finally:
            await response.aclose()
            await client.aclose()

    return RecordingStream(size=size, chunks=chunks())
