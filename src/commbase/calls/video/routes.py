"""Video rooms API (REST). The signalling WebSocket is in ``calls.video.signalling``.

Members use their login session or an API key (``calls:*`` scopes). Guests use the
guest link's token to join, then their participant access token (``cb_vpt_...``)
as ``Authorization: Bearer`` for quality reports and the rating.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from commbase.calls import service as calls_service
from commbase.calls.models import Call
from commbase.calls.video import credentials, joining, rooms
from commbase.calls.video import service as video_service
from commbase.calls.video.bus import envelope, video_bus_of
from commbase.calls.video.enums import Role, RoomStatus
from commbase.calls.video.models import VideoParticipant, VideoRoom
from commbase.calls.video.schemas import (
    Accepted,
    GuestJoin,
    GuestLinkCreate,
    GuestLinkRead,
    GuestLinksRevoked,
    JoinGrant,
    MemberJoin,
    QualityCreate,
    RatingCreate,
    RoomCreate,
    RoomRead,
    WrapUp,
)
from commbase.core.auth import (
    AnonymousRateLimit,
    CurrentPrincipal,
    Principal,
    PrincipalKind,
    bearer_token,
    enforce_rate_limit,
)
from commbase.core.db import DbSession, after_commit
from commbase.core.deps import AppSettings
from commbase.core.errors import AuthenticationRequired, NotFound, PermissionDenied
from commbase.core.http import NO_STORE, client_of
from commbase.core.idempotency import REPLAYED_HEADER, request_key
from commbase.core.pagination import Page, PageQuery
from commbase.core.ratelimit import RateLimitRule
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.settings import Settings

router = APIRouter(prefix="/v1/video", tags=["video"])
PARTICIPANT_RULE = RateLimitRule("video_participant", 120, 60)  # requests a minute
QUALITY_RULE = RateLimitRule("video_quality", 1, 4)  # one quality sample per 4 s


def room_read(room: VideoRoom, call: Call | None, **extra: Any) -> RoomRead:
    read = RoomRead.model_validate(room).model_copy(update=extra)
    if call is not None:
        read.duration_seconds = call.duration_seconds
        read.mos_score, read.latency_ms = call.mos_score, call.latency_ms
        read.jitter_ms, read.packet_loss = call.jitter_ms, call.packet_loss
        read.video_resolution, read.quality = call.video_resolution, call.quality
    return read


async def _participant(
    request: Request, session: DbSession, settings: Settings, room_id: str
) -> VideoParticipant:
    """The participant whose access token the request bears, in ``room_id``; another
    room's participant gets 404, as another organization's member would."""
    token = bearer_token(request)
    if token is None:
        raise AuthenticationRequired(
            "Send 'Authorization: Bearer <participant access token>'",
            headers={"WWW-Authenticate": 'Bearer realm="commbase"'},
        )
    participant = await joining.participant_for_token(session, settings=settings, token=token)
    if participant is None:
        raise AuthenticationRequired("The access token is invalid or has expired")
    await enforce_rate_limit(request, key=f"vpt:{participant.id}", rule=PARTICIPANT_RULE)
    if participant.room_id != room_id:
        raise NotFound("Video room not found")
    return participant


@router.post(
    "/rooms",
    response_model=RoomRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a video room (its call of kind video, funds held) and a guest link",
    description=(
        "Passes the checks placing a call passes (consent, call rate, concurrency, spend "
        "caps, the hold). A retry with the same `Idempotency-Key` answers with the room "
        "the first request created (a fresh guest link), never a second room."
    ),
)
async def create_room(
    body: RoomCreate,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.CALLS_CREATE)
    room, link, replayed = await rooms.create_room(
        session,
        principal=principal,
        data=body,
        settings=settings,
        idempotency_key=request_key(request),
    )
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    response.headers.update(NO_STORE)  # the guest token: never cached, never replayed
    call = (await rooms.calls_of(session, [room])).get(room.call_id)
    return room_read(
        room,
        call,
        guest_url=rooms.guest_url(settings, link.token),
        guest_token=link.token,
        guest_token_expires_at=link.expires_at,
    )


@router.get("/rooms", response_model=Page[RoomRead])
async def list_rooms(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[RoomStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.CALLS_READ)
    rows, cursor = await rooms.list_rooms(
        session,
        org_id=principal.org_id,
        params=page,
        status=status_,
        owner=calls_service.owned_by(principal),
    )
    calls = await rooms.calls_of(session, rows)
    return Page(data=[room_read(r, calls.get(r.call_id)) for r in rows], next_cursor=cursor)


@router.get("/rooms/{room_id}", response_model=RoomRead)
async def get_room(room_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.CALLS_READ)
    room = await rooms.get_room_for(session, principal=principal, room_id=room_id)
    return room_read(room, (await rooms.calls_of(session, [room])).get(room.call_id))


@router.post(
    "/rooms/{room_id}/guest-links",
    response_model=GuestLinkRead,
    status_code=status.HTTP_201_CREATED,
    summary="A fresh guest link (signed, expiring, for this room only)",
)
async def create_guest_link(
    room_id: PathId,
    body: GuestLinkCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    room = await rooms.get_room_for(session, principal=principal, room_id=room_id)
    link = rooms.new_guest_link(settings, room=room, ttl_s=body.ttl_seconds)
    response.headers.update(NO_STORE)
    return GuestLinkRead(
        url=rooms.guest_url(settings, link.token), token=link.token, expires_at=link.expires_at
    )


@router.post(
    "/rooms/{room_id}/guest-links/revoke",
    response_model=GuestLinksRevoked,
    summary="Revoke every guest link of the room issued so far",
    description=(
        "A revoked link no longer joins (403); links made afterwards work. Guests who "
        "already joined stay, and may rejoin with their access token. 409 once the room ended."
    ),
)
async def revoke_guest_links(
    room_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    room = await rooms.get_room_for(session, principal=principal, room_id=room_id, for_update=True)
    revoked_at = await rooms.revoke_guest_links(session, room=room)
    return GuestLinksRevoked(room_id=room.id, revoked_at=revoked_at)


@router.post(
    "/rooms/{room_id}/join",
    response_model=JoinGrant,
    summary="Join a room as an agent (a member of its organization)",
)
async def join_room(
    room_id: PathId,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    body: MemberJoin | None = None,
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    await rooms.get_room_for(session, principal=principal, room_id=room_id)
    # A login session joins as its user; an agent session or an API key as itself,
    # a participant of its own beside its member's (never the member's seat).
    by_credential = principal.kind != PrincipalKind.USER_SESSION
    response.headers.update(NO_STORE)  # the access token and TURN credential
    return await joining.join_as_member(
        session,
        settings=settings,
        org_id=principal.org_id,
        room_id=room_id,
        user_id=principal.user_id,
        credential_id=principal.credential_id if by_credential else None,
        name=body.name if body else None,
    )


@router.post(
    "/guest/join",
    response_model=JoinGrant,
    summary="Join a room as a guest, with a guest link's token (no other credential)",
    dependencies=[AnonymousRateLimit],
)
async def join_as_guest(
    body: GuestJoin, response: Response, session: DbSession, settings: AppSettings
) -> Any:
    response.headers.update(NO_STORE)  # the access token and TURN credential
    return await joining.join_as_guest(
        session,
        settings=settings,
        token=body.token,
        name=body.name,
        access_token=body.access_token,
    )


@router.post(
    "/rooms/{room_id}/quality",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Report getStats() figures (Bearer: the participant's access token)",
    description=(
        "At most one sample per participant every 4 s (429 with Retry-After sooner); "
        "409 once the room ended or the participant left."
    ),
)
async def report_quality(
    room_id: PathId,
    body: QualityCreate,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    participant = await _participant_or_member(request, session, settings, room_id)
    if not isinstance(participant, VideoParticipant):
        raise PermissionDenied("Quality is reported with a participant's access token")
    # One sample per participant every 4 s (browsers send one every 5 s): 429 sooner.
    await enforce_rate_limit(request, key=f"vptq:{participant.id}", rule=QUALITY_RULE)
    await video_service.record_quality(session, participant=participant, data=body)
    return Accepted()


@router.post(
    "/rooms/{room_id}/end",
    response_model=RoomRead,
    summary="End the room (a member, or an agent's access token); its call is billed once",
)
async def end_room(
    room_id: PathId, request: Request, session: DbSession, settings: AppSettings
) -> Any:
    caller = await _participant_or_member(request, session, settings, room_id)
    if isinstance(caller, VideoParticipant):
        if caller.role != Role.AGENT:
            raise PermissionDenied("Only an agent ends the room; a guest leaves it")
    else:
        caller.require(Scope.CALLS_WRITE)
    org_id = caller.org_id
    room, ended_now = await video_service.end(session, org_id=org_id, room_id=room_id)
    if ended_now:
        bus, message = (
            video_bus_of(request.app),
            envelope(frame={"type": "room_ended"}, control="end"),
        )

        async def tell_sockets() -> None:
            await bus.publish(room.id, message)

        after_commit(session, tell_sockets)
    return room_read(room, (await rooms.calls_of(session, [room])).get(room.call_id))


async def _participant_or_member(
    request: Request, session: DbSession, settings: Settings, room_id: str
) -> VideoParticipant | Principal:
    """The participant (``cb_vpt_`` bearer) or the member whose organization has the
    room; another organization's room is 404 either way."""
    if (bearer_token(request) or "").startswith(credentials.ACCESS_PREFIX):
        return await _participant(request, session, settings, room_id)
    principal = await _member(request, session)
    await rooms.get_room_for(session, principal=principal, room_id=room_id)
    return principal


async def _member(request: Request, session: DbSession) -> Principal:
    """A member's principal from the request's bearer token (as ``CurrentPrincipal``)."""
    token = bearer_token(request)
    if token is None:
        raise AuthenticationRequired(
            "Send 'Authorization: Bearer <api key, session token or access token>'",
            headers={"WWW-Authenticate": 'Bearer realm="commbase"'},
        )
    principal = await request.app.state.authenticator(
        session=session, token=token, client=client_of(request.scope["state"]), request=request
    )
    await enforce_rate_limit(
        request, key=f"{principal.kind}:{principal.credential_id}", rule=principal.rate_limit
    )
    request.state.principal = principal
    result: Principal = principal
    return result


@router.post("/rooms/{room_id}/wrap-up", response_model=RoomRead)
async def wrap_up(
    room_id: PathId, body: WrapUp, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    await rooms.get_room_for(session, principal=principal, room_id=room_id)
    room = await video_service.wrap_up(session, org_id=principal.org_id, room_id=room_id, data=body)
    return room_read(room, (await rooms.calls_of(session, [room])).get(room.call_id))


@router.post(
    "/rooms/{room_id}/rating",
    response_model=Accepted,
    summary="The guest rates the call, once (Bearer: the guest's access token)",
)
async def rate(
    room_id: PathId,
    body: RatingCreate,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    participant = await _participant_or_member(request, session, settings, room_id)
    if not isinstance(participant, VideoParticipant) or participant.role != Role.GUEST:
        raise PermissionDenied("The rating is the guest's")
    await video_service.rate(session, participant=participant, data=body)
    return Accepted()
