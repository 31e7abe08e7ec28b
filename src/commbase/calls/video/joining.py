"""Joining a room: members (``join_as_member``) and guests (``join_as_guest``), and the
participant behind an access token.

A join answers a ``JoinGrant``: a short-lived access token (``cb_vpt_...``, stored as
its HMAC) bound to one participant of one room, the signalling URL, ICE servers with
TURN credentials, and for rooms of mode ``sfu`` the SFU's own access token.

Joining again with a valid access token of the room (a page reload) resumes that
participant; a member joining again is the same participant with a fresh token. The
reconnection is counted when the participant's signalling socket opens again.
A mesh room holds at most ``MESH_LIMIT`` (4) participants at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.video import credentials, rooms
from commbase.calls.video.enums import MESH_LIMIT, SFU_LIMIT, Role, RoomMode, RoomStatus
from commbase.calls.video.models import VideoParticipant, VideoRoom
from commbase.calls.video.schemas import IceServer, JoinGrant, SfuGrant
from commbase.calls.video.sfu import require_sfu
from commbase.core.errors import AuthenticationRequired, Conflict, NotFound, PermissionDenied
from commbase.core.time import utcnow
from commbase.settings import Settings

GUEST_NAME = "Guest"
AGENT_NAME = "Agent"


async def join_as_member(
    session: AsyncSession,
    *,
    settings: Settings,
    org_id: str,
    room_id: str,
    user_id: str | None,
    credential_id: str | None = None,
    name: str | None = None,
) -> JoinGrant:
    """A member of ``org_id`` joins the room as an agent: the user (a login session,
    ``credential_id`` None), or an agent session or API key (``credential_id``: its
    id), which is a participant of its own, never its user's. NotFound for another
    organization's room; Conflict for an ended or full room. The caller commits."""
    room = await rooms.get_room(session, org_id=org_id, room_id=room_id, for_update=True)
    _check_open(room)
    P = VideoParticipant
    who = (
        P.credential_id == credential_id
        if credential_id is not None
        else (P.user_id == user_id) & P.credential_id.is_(None)
    )
    participant = await session.scalar(
        select(P).where(
            P.org_id == org_id,
            P.room_id == room.id,
            P.role == Role.AGENT,
            who,
            P.left_at.is_(None),
        )
    )
    token = credentials.new_access_token()
    if participant is None:
        await _check_room_size(session, settings, room)
        participant = _new_participant(
            settings,
            room=room,
            role=Role.AGENT,
            user_id=user_id,
            name=name or AGENT_NAME,
            token=token,
        )
        participant.credential_id = credential_id
        session.add(participant)
        await session.flush()
        await rooms.mark_joined(session, room=room, role=Role.AGENT, at=participant.joined_at)
    else:
        participant.token_hash = credentials.access_token_hash(settings, token)
        participant.token_expires_at = _expiry(settings)
        if name:
            participant.name = name
        await session.flush()
    return grant(settings, room=room, participant=participant, token=token)


async def join_as_guest(
    session: AsyncSession,
    *,
    settings: Settings,
    token: str,
    name: str | None = None,
    access_token: str | None = None,
) -> JoinGrant:
    """A customer joins through a guest link; with the ``access_token`` of an earlier
    join of the same room, as that participant again. A malformed, altered or expired
    link is refused (401), and so is a link to a room that is gone; a revoked link is
    refused (403) unless it comes with the access token of a guest already in."""
    claim = credentials.read_guest_link(settings, token)
    if claim is None:
        raise AuthenticationRequired("The guest link is invalid or has expired")
    try:
        room = await rooms.get_room(
            session, org_id=claim.org_id, room_id=claim.room_id, for_update=True
        )
    except NotFound as exc:
        raise AuthenticationRequired("The guest link is invalid or has expired") from exc
    _check_open(room)
    if access_token is not None:
        earlier = await participant_for_token(session, settings=settings, token=access_token)
        if earlier is not None and earlier.room_id == room.id and earlier.left_at is None:
            if name:
                earlier.name = name
            return grant(settings, room=room, participant=earlier, token=access_token, resumed=True)
    if claim.generation < room.guest_link_generation:
        raise PermissionDenied("This guest link has been revoked; ask for a new one")
    await _check_room_size(session, settings, room)
    fresh = credentials.new_access_token()
    participant = _new_participant(
        settings,
        room=room,
        role=Role.GUEST,
        user_id=None,
        name=name or room.customer_name or GUEST_NAME,
        token=fresh,
    )
    session.add(participant)
    await session.flush()
    await rooms.mark_joined(session, room=room, role=Role.GUEST, at=participant.joined_at)
    return grant(settings, room=room, participant=participant, token=fresh)


async def participant_for_token(
    session: AsyncSession, *, settings: Settings, token: str
) -> VideoParticipant | None:
    """The participant an unexpired access token names, or None."""
    if not token.startswith(credentials.ACCESS_PREFIX) or len(token) > 128:
        return None
    digest = credentials.access_token_hash(settings, token)
    participant = await session.scalar(
        select(VideoParticipant).where(VideoParticipant.token_hash == digest)
    )
    if participant is None or participant.token_expires_at <= utcnow():
        return None
    return participant


def grant(
    settings: Settings,
    *,
    room: VideoRoom,
    participant: VideoParticipant,
    token: str,
    resumed: bool = False,
) -> JoinGrant:
    sfu = None
    if room.mode == RoomMode.SFU:
        access = require_sfu(settings).access(
            room_id=room.id,
            participant_id=participant.id,
            name=participant.name,
            ttl_s=settings.video_access_token_ttl_s,
            publish=True,
        )
        sfu = SfuGrant(provider=access.provider, url=access.url, token=access.token)
    servers = credentials.ice_servers(settings, participant_id=participant.id)
    return JoinGrant(
        room_id=room.id,
        participant_id=participant.id,
        role=Role(participant.role).value,
        name=participant.name,
        access_token=token,
        expires_at=participant.token_expires_at,
        signal_url=rooms.signal_url(settings, room.id),
        ice_servers=[IceServer.model_validate(server) for server in servers],
        sfu=sfu,
        reconnection=resumed,
    )


def _expiry(settings: Settings) -> datetime:
    return utcnow() + timedelta(seconds=settings.video_access_token_ttl_s)


def _new_participant(
    settings: Settings,
    *,
    room: VideoRoom,
    role: Role,
    user_id: str | None,
    name: str,
    token: str,
) -> VideoParticipant:
    now = utcnow()
    return VideoParticipant(
        org_id=room.org_id,
        room_id=room.id,
        role=role,
        user_id=user_id,
        name=name,
        token_hash=credentials.access_token_hash(settings, token),
        token_expires_at=_expiry(settings),
        joined_at=now,
        created_at=now,
    )


def _check_open(room: VideoRoom) -> None:
    if room.status == RoomStatus.ENDED:
        raise Conflict("The video room has ended")


async def _check_room_size(session: AsyncSession, settings: Settings, room: VideoRoom) -> None:
    """Conflict when the room is full; participants whose socket closed longer than
    the reconnect grace ago (gone, not yet swept) hold no seat."""
    limit = MESH_LIMIT if room.mode == RoomMode.MESH else SFU_LIMIT
    P = VideoParticipant
    cutoff = utcnow() - timedelta(seconds=settings.video_reconnect_grace_s)
    present = await session.scalar(
        select(func.count())
        .select_from(P)
        .where(
            P.org_id == room.org_id,
            P.room_id == room.id,
            P.left_at.is_(None),
            ~(
                P.connected_at.is_(None)
                & P.disconnected_at.is_not(None)
                & (P.disconnected_at <= cutoff)
            ),
        )
    )
    if int(present or 0) >= limit:
        raise Conflict(
            f"The room is full: a {room.mode} room holds at most {limit} participants",
            limit=limit,
        )
