"""The SFU behind rooms of mode ``sfu``: a provider interface and LiveKit.

A LiveKit access token is a JWT signed with the API secret (HS256), made offline by
``livekit-api``: it names the participant (identity) and grants joining exactly one
room, named after the commbase room id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from livekit import api as livekit

from commbase.core.errors import Conflict
from commbase.settings import Settings


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
