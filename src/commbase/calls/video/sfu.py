"""The SFU behind rooms of mode ``sfu``: a provider interface and LiveKit.

A LiveKit access token is a JWT signed with the API secret (HS256), made offline by
``livekit-api``: it names the participant (identity) and grants joining exactly one
room, named after the commbase room id.

When an ``sfu`` room ends, ``calls.video_sfu_delete`` (an effect on
``video.room.ended``, run after the ending transaction commits) asks LiveKit's
RoomService to delete the room of that name, which disconnects anybody still in
it. The room's name is its idempotency key: deleting twice is harmless, and a room
LiveKit no longer has (``not_found``: emptied and closed, or deleted by an earlier
run) counts as deleted. An unreachable or failing LiveKit is retried with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import aiohttp
import structlog
from livekit import api as livekit

from commbase.calls.video import events as video_events
from commbase.calls.video.enums import RoomMode
from commbase.core.effects import EffectContext, effect
from commbase.core.errors import Conflict
from commbase.core.outbox import ClaimedEvent
from commbase.settings import Settings

log = structlog.get_logger("commbase.video")
DELETE_CONSUMER = "calls.video_sfu_delete"
# A delete that takes longer than this is retried by the effect runner.
REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class SfuAccess:
    provider: str
    url: str
    token: str


class SfuProvider(Protocol):
    name: str

    def access(
        self, *, room_id: str, participant_id: str, name: str | None, ttl_s: int, publish: bool
    ) -> SfuAccess:
        """What a browser needs to join ``room_id`` on the SFU."""
        ...

    async def delete_room(self, *, room_id: str) -> bool:
        """Delete ``room_id`` on the SFU; False when it had no such room."""
        ...


class LiveKitProvider:
    name = "livekit"

    def __init__(self, *, url: str, api_key: str, api_secret: str) -> None:
        self.url = url
        self.api_key = api_key
        self.api_secret = api_secret

    def access(
        self, *, room_id: str, participant_id: str, name: str | None, ttl_s: int, publish: bool
    ) -> SfuAccess:
        grants = livekit.VideoGrants(
            room_join=True,
            room=room_id,
            can_publish=publish,
            can_subscribe=True,
            can_publish_data=True,
        )
        token = (
            livekit.AccessToken(self.api_key, self.api_secret)
            .with_identity(participant_id)
            .with_name(name or participant_id)
            .with_ttl(timedelta(seconds=ttl_s))
            .with_grants(grants)
            .to_jwt()
        )
        return SfuAccess(provider=self.name, url=self.url, token=token)

    async def delete_room(self, *, room_id: str) -> bool:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            client = livekit.LiveKitAPI(
                self.url, self.api_key, self.api_secret, session=http, failover=False
            )
            try:
                await client.room.delete_room(livekit.DeleteRoomRequest(room=room_id))
            except livekit.ServerError as exc:
                if exc.code == livekit.ServerErrorCode.NOT_FOUND:
                    return False
                raise
        return True


def sfu_of(settings: Settings) -> SfuProvider | None:
    """The configured SFU, or None when ``COMMBASE_LIVEKIT_*`` is not set."""
    if settings.livekit_url and settings.livekit_api_key and settings.livekit_api_secret:
        return LiveKitProvider(
            url=settings.livekit_url,
            api_key=settings.livekit_api_key,
            api_secret=settings.livekit_api_secret.get_secret_value(),
        )
    return None


def require_sfu(settings: Settings) -> SfuProvider:
    provider = sfu_of(settings)
    if provider is None:
        raise Conflict(
            "Rooms of mode sfu need an SFU: set COMMBASE_LIVEKIT_URL, COMMBASE_LIVEKIT_API_KEY "
            "and COMMBASE_LIVEKIT_API_SECRET"
        )
    return provider


@effect(DELETE_CONSUMER, event_types=[video_events.VIDEO_ROOM_ENDED])
async def delete_ended_room(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Delete an ended ``sfu`` room's LiveKit room (nothing for other modes)."""
    if event.payload.get("mode") != RoomMode.SFU:
        return
    settings: Settings = ctx.services["settings"]
    provider = sfu_of(settings)
    if provider is None:  # LiveKit was unconfigured since: nothing to reach
        log.warning("video.sfu_delete_skipped", room_id=event.payload["id"])
        return
    existed = await provider.delete_room(room_id=event.payload["id"])
    log.info("video.sfu_room_deleted", room_id=event.payload["id"], existed=existed)
