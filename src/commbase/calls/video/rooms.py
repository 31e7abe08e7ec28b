"""Video rooms: creation (a call of kind video, its funds held), reading, guest links,
the end (billed through the calls lifecycle, once), wrap-up, rating and quality.

Timing is the server's clock (``core.time.utcnow``), never a browser's:

* ``waiting_seconds``: from the first guest's join to the room connecting (an agent
  and a guest both joined): how long the customer waited in the waiting room.
* ``response_seconds``: from the room's creation to the first agent's join: how
  long the organization took to come to the customer's room.

The room's call moves ``initiated`` (room created) -> ``ringing`` (a guest waits) ->
``in-progress`` (connected) -> ``completed`` (ended after connecting; billed per
started minute at ``COMMBASE_VIDEO_RATE_PER_MINUTE``) or ``canceled`` (ended before).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.billing.licenses import service as licenses_service
from commbase.billing.licenses.enums import Feature
from commbase.calls import caps, lifecycle, placement
from commbase.calls import service as calls_service
from commbase.calls.callers import caller_for
from commbase.calls.enums import CallDirection, CallKind, CallStatus, EventSource
from commbase.calls.models import Call
from commbase.calls.providers.base import ProviderEvent
from commbase.calls.video import credentials
from commbase.calls.video import events as video_events
from commbase.calls.video.enums import Role, RoomMode, RoomStatus
from commbase.calls.video.models import VideoParticipant, VideoRoom
from commbase.calls.video.schemas import RoomCreate
from commbase.calls.video.sfu import require_sfu
from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.errors import (
    Conflict,
    ContactBlocked,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    PaymentRequired,
)
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity.signup import service as signup_service
from commbase.settings import Settings

PROVIDER = "webrtc"  # Call.provider of a video room's call: no carrier


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def guest_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/video/join?token={token}"


def signal_url(settings: Settings, room_id: str) -> str:
    base = settings.public_base_url.rstrip("/")
    scheme = "wss" if base.startswith("https") else "ws"
    return f"{scheme}{base[base.index(':') :]}/v1/video/rooms/{room_id}/signal"


async def create_room(
    session: AsyncSession,
    *,
    principal: Principal,
    data: RoomCreate,
    settings: Settings,
    idempotency_key: str | None = None,
) -> tuple[VideoRoom, credentials.GuestLink, bool]:
    """A room and its call, through the guards every placed call passes
    (``calls.placement``: consent, call rate, concurrency, the longest duration, spend
    caps, the hold, privacy mode, retention). With an ``idempotency_key`` a room
    already created with it is answered instead (the third value is True then)."""
    org_id = principal.org_id
    fingerprint = placement.request_fingerprint(data) if idempotency_key else None
    if earlier := await _created_with_key(session, principal, idempotency_key, fingerprint):
        return earlier, _link(settings, earlier), True
    await signup_service.require_verified(session, org_id=org_id)
    caller = await caller_for(session, principal=principal)
    placement.check_consent(caller)
    await licenses_service.require_feature(
        session, org_id=org_id, user_id=principal.user_id, feature=Feature.VIDEO_CALLS
    )
    if data.mode == RoomMode.SFU:
        require_sfu(settings)
    await placement.check_call_rate(session, caller)
    if data.contact_id is not None:
        contact = await contacts_service.get_contact(
            session, org_id=org_id, contact_id=data.contact_id
        )
        if contact.blocked:
            raise ContactBlocked("The contact is blocked")
    wallet = await billing_service.payer_wallet(
        session, org_id=org_id, user_id=caller.user_id, agent_session_id=caller.agent_session_id
    )
    if wallet is None:
        raise PaymentRequired("No wallet pays for this caller; create and fund one first")
    rate, currency = settings.video_rate_per_minute, settings.default_rate_currency
    if wallet.currency != currency:
        raise Conflict(
            f"Video rooms are priced in {currency} (COMMBASE_VIDEO_RATE_PER_MINUTE) but the "
            f"paying wallet holds {wallet.currency}",
            wallet_currency=wallet.currency,
            rate_currency=currency,
        )
    wallet = await billing_service.get_wallet(
        session, org_id=org_id, wallet_id=wallet.id, for_update=True
    )
    if earlier := await _created_with_key(session, principal, idempotency_key, fingerprint):
        return earlier, _link(settings, earlier), True  # a retry committed meanwhile
    allowed_s, hold = await caps.check_limits_and_hold(
        session, caller=caller, wallet=wallet, rate=rate, requested_s=None, settings=settings
    )
    now = utcnow()
    privacy = placement.privacy_mode_for(caller)
    call = Call(
        org_id=org_id,
        kind=CallKind.VIDEO,
        direction=CallDirection.INBOUND,
        status=CallStatus.QUEUED,
        user_id=caller.user_id,
        agent_session_id=caller.agent_session_id,
        api_key_id=caller.api_key_id,
        wallet_id=wallet.id,
        contact_id=data.contact_id,
        caller_id_name=data.customer_name,
        privacy_mode=privacy,
        max_duration_seconds=allowed_s,
        rate_per_minute=rate,
        currency=wallet.currency,
        hold_amount=hold.amount,
        hold_minutes=hold.minutes,
        provider=PROVIDER,
        livemode=principal.livemode,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        created_at=now,
    )
    await placement.apply_retention(session, call=call, caller=caller)
    session.add(call)
    try:
        await session.flush()
    except IntegrityError as exc:
        if idempotency_key is None:
            raise
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key created its room meanwhile; retry",
            headers={"Retry-After": "1"},
        ) from exc
    room = VideoRoom(
        org_id=org_id,
        call_id=call.id,
        created_by_user_id=principal.user_id,
        contact_id=data.contact_id,
        title=data.title,
        customer_name=data.customer_name,
        mode=data.mode,
        status=RoomStatus.CREATED,
        created_at=now,
    )
    session.add(room)
    await session.flush()
    call.provider_call_id = room.id
    await _move_call(session, call=call, status=CallStatus.INITIATED, at=now)
    await outbox.record(
        session,
        video_events.VIDEO_ROOM_CREATED,
        {"id": room.id, "call_id": call.id, "status": room.status, "mode": room.mode},
        org_id=org_id,
    )
    return room, _link(settings, room), False


def _link(settings: Settings, room: VideoRoom) -> credentials.GuestLink:
    return credentials.sign_guest_link(
        settings,
        org_id=room.org_id,
        room_id=room.id,
        ttl_s=settings.video_guest_link_ttl_s,
        generation=room.guest_link_generation,
    )


async def _created_with_key(
    session: AsyncSession, principal: Principal, key: str | None, fingerprint: str | None
) -> VideoRoom | None:
    """The room a request with this key created (IdempotencyKeyReused for another body)."""
    call = await placement.placed_with_key(session, principal, key, fingerprint)
    if call is None:
        return None
    if call.kind != CallKind.VIDEO:
        raise IdempotencyKeyReused("This Idempotency-Key already placed a call; use a new key")
    room = await session.scalar(
        select(VideoRoom).where(VideoRoom.org_id == call.org_id, VideoRoom.call_id == call.id)
    )
    if room is None:
        raise IdempotencyKeyReused("This Idempotency-Key already placed a call; use a new key")
    return room


async def _move_call(
    session: AsyncSession,
    *,
    call: Call,
    status: CallStatus,
    at: datetime,
    duration_s: int | None = None,
) -> None:
    await lifecycle.apply_event(
        session,
        call=call,
        event=ProviderEvent(status=status, occurred_at=at, duration_s=duration_s),
        source=EventSource.VIDEO,
    )


def _owned(statement: Select[VideoRoom], *, org_id: str, owner: str | None) -> Select[VideoRoom]:
    """Only rooms whose call the agent session ``owner`` created (as ``calls.service``
    limits an agent session to its own calls); every room of the org for None."""
    if owner is None:
        return statement
    own_calls = select(Call.id).where(Call.org_id == org_id, Call.agent_session_id == owner)
    return statement.where(VideoRoom.call_id.in_(own_calls))


async def get_room_for(
    session: AsyncSession, *, principal: Principal, room_id: str, for_update: bool = False
) -> VideoRoom:
    """A room the principal may reach (an agent session: only its own rooms)."""
    return await get_room(
        session,
        org_id=principal.org_id,
        room_id=room_id,
        for_update=for_update,
        owner=calls_service.owned_by(principal),
    )


async def get_room(
    session: AsyncSession,
    *,
    org_id: str,
    room_id: str,
    for_update: bool = False,
    owner: str | None = None,
) -> VideoRoom:
    statement = select(VideoRoom).where(VideoRoom.org_id == org_id, VideoRoom.id == room_id)
    statement = _owned(statement, org_id=org_id, owner=owner)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    room = await session.scalar(statement)
    if room is None:
        raise NotFound("Video room not found")
    return room


async def list_rooms(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: str | None = None,
    owner: str | None = None,
) -> tuple[Sequence[VideoRoom], str | None]:
    statement = select(VideoRoom).where(VideoRoom.org_id == org_id)
    statement = _owned(statement, org_id=org_id, owner=owner)
    if status:
        statement = statement.where(VideoRoom.status == status)
    return await paginate(session, statement, id_column=VideoRoom.id, params=params)


async def calls_of(session: AsyncSession, rooms: Sequence[VideoRoom]) -> dict[str, Call]:
    if not rooms:
        return {}
    org_id = rooms[0].org_id
    ids = [room.call_id for room in rooms]
    rows = await session.scalars(select(Call).where(Call.org_id == org_id, Call.id.in_(ids)))
    return {call.id: call for call in rows}


def new_guest_link(
    settings: Settings, *, room: VideoRoom, ttl_s: int | None
) -> credentials.GuestLink:
    if room.status == RoomStatus.ENDED:
        raise Conflict("The room has ended")
    return credentials.sign_guest_link(
        settings,
        org_id=room.org_id,
        room_id=room.id,
        ttl_s=ttl_s or settings.video_guest_link_ttl_s,
        generation=room.guest_link_generation,
    )


async def revoke_guest_links(session: AsyncSession, *, room: VideoRoom) -> datetime:
    """Refuse every guest link of a locked room issued so far (links made afterwards
    work); guests who already joined keep their seats. Returns when."""
    if room.status == RoomStatus.ENDED:
        raise Conflict("The room has ended")
    now = utcnow()
    room.guest_link_generation += 1
    room.guest_links_revoked_at = now
    await session.flush()
    return now


async def load_call(session: AsyncSession, room: VideoRoom) -> Call:
    return await lifecycle.load_for_update(session, org_id=room.org_id, call_id=room.call_id)


def sync_call_figures(room: VideoRoom, call: Call) -> None:
    """The room's figures onto its call (the seed's fields live on the call)."""
    call.waiting_time_seconds = room.waiting_seconds
    call.response_time_seconds = room.response_seconds
    call.reconnections = room.reconnections
    call.screenshare_used = room.screen_share_used
    call.problem_solved = room.problem_solved


async def mark_joined(session: AsyncSession, *, room: VideoRoom, role: str, at: datetime) -> None:
    """A participant joined a locked room: waiting, the agent's response, connected."""
    call = await load_call(session, room)
    if role == Role.GUEST and room.waiting_started_at is None:
        room.waiting_started_at = at
        if room.status == RoomStatus.CREATED:
            room.status = RoomStatus.WAITING
        await _move_call(session, call=call, status=CallStatus.RINGING, at=at)
    if role == Role.AGENT and room.agent_joined_at is None:
        room.agent_joined_at = at
        room.response_seconds = seconds_between(room.created_at, at)
    if room.connected_at is None and room.agent_joined_at and room.waiting_started_at:
        room.connected_at = at
        room.status = RoomStatus.CONNECTED
        room.waiting_seconds = seconds_between(room.waiting_started_at, at)
        await _move_call(session, call=call, status=CallStatus.IN_PROGRESS, at=at)
    sync_call_figures(room, call)
    await session.flush()


async def end_room(
    session: AsyncSession, *, room: VideoRoom, billed_until: datetime | None = None
) -> bool:
    """End a locked room and settle its call (its duration from connecting to
    ``billed_until``, else to now); False if it had already ended."""
    if room.status == RoomStatus.ENDED:
        return False
    now = utcnow()
    call = await load_call(session, room)
    sharing = await session.scalars(
        select(VideoParticipant).where(
            VideoParticipant.org_id == room.org_id,
            VideoParticipant.room_id == room.id,
            VideoParticipant.screen_share_started_at.is_not(None),
        )
    )
    for participant in sharing:
        stop_screen_share(room, participant, at=now)
    room.status = RoomStatus.ENDED
    room.ended_at = now
    sync_call_figures(room, call)
    if room.connected_at is not None:
        duration = seconds_between(room.connected_at, billed_until or now)
        await _move_call(
            session, call=call, status=CallStatus.COMPLETED, at=now, duration_s=duration
        )
    else:
        await _move_call(session, call=call, status=CallStatus.CANCELED, at=now)
    sync_call_figures(room, call)
    await outbox.record(
        session,
        video_events.VIDEO_ROOM_ENDED,
        {"id": room.id, "call_id": call.id, "status": room.status, "mode": room.mode},
        org_id=room.org_id,
    )
    await session.flush()
    return True


def stop_screen_share(room: VideoRoom, participant: VideoParticipant, *, at: datetime) -> None:
    started = participant.screen_share_started_at
    if started is None:
        return
    seconds = seconds_between(started, at) or 0
    participant.screen_share_seconds += seconds
    participant.screen_share_started_at = None
    room.screen_share_seconds += seconds
