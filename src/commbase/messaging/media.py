"""A WhatsApp message's media, fetched from the Cloud API and streamed to the caller.

Inbound media arrive as an id (``metadata.media_id``). ``GET /{media-id}`` with the
account's access token answers the file's short-lived URL, MIME type and size;
the file is then downloaded from that URL with the same token and relayed chunk
by chunk (``GET /v1/messages/{id}/media``), never kept. Files over
``MAX_MEDIA_BYTES`` are refused before reading when Meta declares the size, and
cut off while reading otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import Conflict, NotFound, ServiceUnavailable
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.enums import ProviderName
from commbase.messaging.models import ChannelAccount, Message
from commbase.messaging.providers.whatsapp import API_VERSION, GRAPH_URL, TIMEOUT_S

MAX_MEDIA_BYTES = 25 * 1024 * 1024
CHUNK = 64 * 1024


@dataclass(frozen=True)
class MediaFile:
    """Where a message's file can be downloaded, and what it is."""

    url: str
    mime_type: str
    size: int | None
    access_token: str
    transport: httpx.AsyncBaseTransport | None


async def _describe(
    media_id: str, *, access_token: str, transport: httpx.AsyncBaseTransport | None
) -> dict[str, Any]:
    url = f"{GRAPH_URL}/{API_VERSION}/{media_id}"
    headers = {"Authorization": f"Bearer {access_token}"}
    async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S) as client:
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("WhatsApp could not be reached for the media") from exc
    if response.status_code == 404:
        raise NotFound("WhatsApp no longer has this media (media are kept for 30 days)")
    if response.status_code != 200:
        raise ServiceUnavailable(f"WhatsApp answered {response.status_code} for the media")
    try:
        data: dict[str, Any] = response.json()
    except ValueError as exc:
        raise ServiceUnavailable("WhatsApp answered the media request without JSON") from exc
    if not isinstance(data.get("url"), str):
        raise ServiceUnavailable("WhatsApp answered the media request without a URL")
    return data


async def media_file(
    session: AsyncSession,
    *,
    message: Message,
    server_secret: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> MediaFile:
    """The download of ``message``'s media; NotFound if it has none to fetch."""
    media_id = (message.metadata_ or {}).get("media_id")
    if message.provider != ProviderName.WHATSAPP or not isinstance(media_id, str) or not media_id:
        raise NotFound("This message has no WhatsApp media")
    account = await session.get(ChannelAccount, message.account_id)
    token = (
        None
        if account is None
        else accounts_service.secret_of(account, "access_token", server_secret=server_secret)
    )
    if token is None:
        raise ServiceUnavailable("The channel account has no access token to fetch media with")
    data = await _describe(media_id, access_token=token, transport=transport)
    size = data.get("file_size")
    size = int(size) if isinstance(size, int | str) and str(size).isdigit() else None
    if size is not None and size > MAX_MEDIA_BYTES:
        raise Conflict(f"The media is larger than {MAX_MEDIA_BYTES} bytes")
    return MediaFile(
        url=data["url"],
        mime_type=str(data.get("mime_type") or message.media_type or "application/octet-stream"),
        size=size,
        access_token=token,
        transport=transport,
    )


async def open_stream(media: MediaFile) -> tuple[httpx.AsyncClient, httpx.Response]:
    """Start the download (its status checked before anything is relayed)."""
    client = httpx.AsyncClient(transport=media.transport, timeout=TIMEOUT_S)
    try:
        request = client.build_request(
            "GET", media.url, headers={"Authorization": f"Bearer {media.access_token}"}
        )
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise ServiceUnavailable("WhatsApp could not be reached for the media") from exc
    if response.status_code != 200:
        await response.aclose()
        await client.aclose()
        raise ServiceUnavailable(f"WhatsApp answered {response.status_code} for the media file")
    return client, response


async def relay(client: httpx.AsyncClient, response: httpx.Response) -> AsyncIterator[bytes]:
    """The file's bytes, at most ``MAX_MEDIA_BYTES`` of them."""
    sent = 0
    try:
        async for chunk in response.aiter_bytes(CHUNK):
            sent += len(chunk)
            if sent > MAX_MEDIA_BYTES:
                return  # cut off: the caller sees a short body
            yield chunk
    finally:
        await response.aclose()
        await client.aclose()
