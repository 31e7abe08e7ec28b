"""The secrets a video room hands out.

* Guest link tokens (``cb_vgl_...``): ``<payload>.<signature>``, the payload naming one
  room of one organization, an expiry and the room's guest link generation, signed
  with HMAC-SHA256 under a key derived from ``COMMBASE_SECRET_KEY``. Nothing is stored
  per link: an altered token fails the signature, an expired one its expiry, a
  revoked one (signed before the room's generation moved on) the generation.
* Participant access tokens (``cb_vpt_...``): random, stored as their HMAC only
  (``identity.tokens.hash_token``), short-lived, bound to one participant of one room.
* TURN credentials in the REST API for TURN scheme that coturn implements
  (``use-auth-secret``): username ``<unix expiry>:<participant id>``, credential
  ``base64(HMAC-SHA1(secret, username))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from commbase.core.time import utcnow
from commbase.identity.tokens import hash_token
from commbase.settings import Settings

GUEST_PREFIX = "cb_vgl_"
ACCESS_PREFIX = "cb_vpt_"
MAX_TOKEN_LENGTH = 512


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _guest_key(settings: Settings) -> bytes:
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"commbase.video.guest-link", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class GuestLink:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class GuestClaim:
    org_id: str
    room_id: str
    expires_at: datetime
    generation: int


def sign_guest_link(
    settings: Settings, *, org_id: str, room_id: str, ttl_s: int, generation: int
) -> GuestLink:
    expires = utcnow().replace(microsecond=0) + timedelta(seconds=ttl_s)
    payload = orjson.dumps(
        {
            "o": org_id,
            "r": room_id,
            "e": int(expires.timestamp()),
            "g": generation,
            "n": secrets.token_hex(4),
        }
    )
    body = _b64(payload)
    signature = hmac.new(_guest_key(settings), body.encode(), hashlib.sha256).digest()
    return GuestLink(f"{GUEST_PREFIX}{body}.{_b64(signature)}", expires)


def read_guest_link(settings: Settings, token: str) -> GuestClaim | None:
    """The room a guest token names, or None if it is malformed, altered or expired."""
    if not token.startswith(GUEST_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    body, _, signature = token[len(GUEST_PREFIX) :].partition(".")
    expected = _b64(hmac.new(_guest_key(settings), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        data = orjson.loads(_unb64(body))
        claim = GuestClaim(
            org_id=str(data["o"]),
            room_id=str(data["r"]),
            expires_at=datetime.fromtimestamp(int(data["e"]), tz=utcnow().tzinfo),
            # Links signed before generations existed are of the first one.
            generation=int(data.get("g", 0)),
        )
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return claim if claim.expires_at > utcnow() else None


def new_access_token() -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def access_token_hash(settings: Settings, token: str) -> str:
    return hash_token(token, secret=settings.secret_key.get_secret_value())


def turn_credential(secret: str, *, participant_id: str, expires_at: datetime) -> tuple[str, str]:
    """(username, credential) for coturn's REST API scheme."""
    username = f"{int(expires_at.timestamp())}:{participant_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, *, participant_id: str) -> list[dict[str, object]]:
    """STUN servers as they are; TURN servers with a credential valid ``video_turn_ttl_s``."""
    servers: list[dict[str, object]] = []
    if settings.video_stun_urls:
        servers.append({"urls": list(settings.video_stun_urls)})
    if settings.video_turn_urls and settings.video_turn_secret is not None:
        expires = utcnow() + timedelta(seconds=settings.video_turn_ttl_s)
        username, credential = turn_credential(
            settings.video_turn_secret.get_secret_value(),
            participant_id=participant_id,
            expires_at=expires,
        )
        servers.append(
            {"urls": list(settings.video_turn_urls), "username": username, "credential": credential}
        )
    return servers
