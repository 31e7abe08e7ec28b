"""What happens in a room after joining: quality samples, the end, wrap-up, rating,
and the signalling socket's presence (connections, reconnections, screen share, leave).

Quality: each sample is kept; the call gets the averages of every sample so far, from
running sums and counts kept on the room (``quality_totals``)
(``mos_score``, ``jitter_ms``, ``packet_loss``, ``bitrate_kbps``; ``latency_ms`` is
half the average round-trip time, the one-way latency ``calls.quality`` grades) and
the last sample's resolution and frame rate, and its label from ``calls.quality``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.service import relabel_quality
from commbase.calls.video import events as video_events
from commbase.calls.video import rooms
from commbase.calls.video.enums import Role, RoomStatus
from commbase.calls.video.models import VideoParticipant, VideoQualitySample, VideoRoom
from commbase.calls.video.schemas import QualityCreate, RatingCreate, WrapUp
from commbase.core import outbox
from commbase.core.errors import Conflict
from commbase.core.time import utcnow
from commbase.identity import service as identity_service

AVERAGED = ("mos", "rtt_ms", "jitter_ms", "packet_loss", "bitrate_kbps")


async def record_quality(
    session: AsyncSession, *, participant: VideoParticipant, data: QualityCreate
) -> None:
    room = await rooms.get_room(
        session, org_id=participant.org_id, room_id=participant.room_id, for_update=True
    )
    if room.status == RoomStatus.ENDED:
        raise Conflict("The video room has ended")
    if participant.left_at is not None:
        raise Conflict("This participant has left the room")
    session.add(
        VideoQualitySample(
            org_id=room.org_id,
            room_id=room.id,
            participant_id=participant.id,
            **data.model_dump(),
        )
    )
    room.quality_samples += 1
    totals = {key: list(value) for key, value in (room.quality_totals or {}).items()}
    for name in AVERAGED:
        value = getattr(data, name)
        if value is not None:
            sum_, count = totals.get(name, [0.0, 0])
            totals[name] = [sum_ + float(value), count + 1]
    room.quality_totals = totals  # a new dict: the JSON column sees the change

    def average(name: str) -> float | None:
        sum_, count = totals.get(name, [0.0, 0])
        return sum_ / count if count else None

    mos, rtt, jitter, loss, bitrate = (average(name) for name in AVERAGED)
    call = await rooms.load_call(session, room)
    call.mos_score = None if mos is None else round(mos, 2)
    call.latency_ms = None if rtt is None else round(rtt / 2)
    call.jitter_ms = None if jitter is None else round(jitter)
    call.packet_loss = None if loss is None else round(loss, 4)
    call.bitrate_kbps = None if bitrate is None else round(bitrate)
    if data.frame_width and data.frame_height:
        call.video_resolution = f"{data.frame_width}x{data.frame_height}"
    if data.fps is not None:
        call.frame_rate = data.fps
    await relabel_quality(session, call)


async def end(session: AsyncSession, *, org_id: str, room_id: str) -> tuple[VideoRoom, bool]:
    """End the room (locked: two ends at once bill the call once); (room, ended now)."""
    room = await rooms.get_room(session, org_id=org_id, room_id=room_id, for_update=True)
    ended = await rooms.end_room(session, room=room)
    return room, ended


async def wrap_up(session: AsyncSession, *, org_id: str, room_id: str, data: WrapUp) -> VideoRoom:
    room = await rooms.get_room(session, org_id=org_id, room_id=room_id, for_update=True)
    room.problem_solved = data.problem_solved
    room.outcome = data.outcome
    room.wrap_up_notes = data.notes
    room.wrapped_up_at = utcnow()
    call = await rooms.load_call(session, room)
    rooms.sync_call_figures(room, call)
    await session.flush()
    return room


async def rate(session: AsyncSession, *, participant: VideoParticipant, data: RatingCreate) -> None:
    room = await rooms.get_room(
        session, org_id=participant.org_id, room_id=participant.room_id, for_update=True
    )
    if room.connected_at is None:
        raise Conflict("A room is rated after the call took place")
    if room.rating is not None:
        raise Conflict("This room has already been rated")
    room.rating, room.rating_comment, room.rated_at = data.rating, data.comment, utcnow()
    call = await rooms.load_call(session, room)
    call.review_rating, call.review_comment, call.reviewed_at = (
        data.rating,
        data.comment,
        room.rated_at,
    )
    if call.user_id:
        await identity_service.record_review_for_user(
            session, user_id=call.user_id, rating=data.rating
        )
    await session.flush()


# ------------------------------------------------------------ the signalling socket


def _participant_payload(
    room: VideoRoom, participant: VideoParticipant, **extra: object
) -> dict[str, object]:
    return {
        "room_id": room.id,
        "call_id": room.call_id,
        "participant_id": participant.id,
        "role": participant.role,
        **extra,
    }


async def connected(
    session: AsyncSession, *, participant_id: str, org_id: str
) -> tuple[VideoRoom, VideoParticipant, bool]:
    """A participant's socket opened: counted, a reconnection if it had one before.
    Conflict if the room has ended or the participant left."""
    room_id = await session.scalar(
        select(VideoParticipant.room_id).where(
            VideoParticipant.org_id == org_id, VideoParticipant.id == participant_id
        )
    )
    room = await rooms.get_room(session, org_id=org_id, room_id=str(room_id), for_update=True)
    participant = await _participant(session, org_id=org_id, participant_id=participant_id)
    if room.status == RoomStatus.ENDED or participant.left_at is not None:
        raise Conflict("The participant is not in a live room")
    reconnection = participant.connections > 0
    participant.connections += 1
    # A new socket shares no screen yet (a reload ended the earlier page's share).
    rooms.stop_screen_share(room, participant, at=utcnow())
    participant.connected_at = utcnow()
    participant.disconnected_at = None
    if reconnection:
        participant.reconnections += 1
        room.reconnections += 1
        rooms.sync_call_figures(room, await rooms.load_call(session, room))
    await outbox.record(
        session,
        video_events.VIDEO_PARTICIPANT_JOINED,
        _participant_payload(room, participant, reconnection=reconnection),
        org_id=org_id,
    )
    await session.flush()
    return room, participant, reconnection


async def _participant(
    session: AsyncSession, *, org_id: str, participant_id: str
) -> VideoParticipant:
    participant = await session.scalar(
        select(VideoParticipant)
        .where(VideoParticipant.org_id == org_id, VideoParticipant.id == participant_id)
        .execution_options(populate_existing=True)
    )
    assert participant is not None
    return participant


async def disconnected(
    session: AsyncSession,
    *,
    org_id: str,
    room_id: str,
    participant_id: str,
    left: bool,
    connection: int,
) -> bool:
    """The participant's socket number ``connection`` closed (``left``: it said
    ``leave``). Unless a newer socket replaced it, a screen share in progress stops and
    the participant is no longer connected; one that left is out of the room (and of
    its size). True when that socket was still the participant's current one."""
    room = await rooms.get_room(session, org_id=org_id, room_id=room_id, for_update=True)
    participant = await _participant(session, org_id=org_id, participant_id=participant_id)
    now = utcnow()
    current = participant.connections == connection
    if current:
        rooms.stop_screen_share(room, participant, at=now)
        if participant.connected_at is not None and await _together(session, room):
            room.last_together_at = now
        participant.connected_at = None
        participant.disconnected_at = now
    if left and participant.left_at is None:
        participant.left_at = now
        await outbox.record(
            session,
            video_events.VIDEO_PARTICIPANT_LEFT,
            _participant_payload(room, participant),
            org_id=org_id,
        )
    await session.flush()
    return current


async def _together(session: AsyncSession, room: VideoRoom) -> bool:
    """Whether an agent's and a guest's sockets are both open in the room."""
    roles = await session.scalars(
        select(VideoParticipant.role)
        .where(
            VideoParticipant.org_id == room.org_id,
            VideoParticipant.room_id == room.id,
            VideoParticipant.connected_at.is_not(None),
        )
        .distinct()
    )
    return {Role.AGENT, Role.GUEST} <= set(roles)


async def screen_share(
    session: AsyncSession, *, org_id: str, room_id: str, participant_id: str, active: bool
) -> None:
    room = await rooms.get_room(session, org_id=org_id, room_id=room_id, for_update=True)
    participant = await _participant(session, org_id=org_id, participant_id=participant_id)
    if room.status == RoomStatus.ENDED:
        return
    now = utcnow()
    if active and participant.screen_share_started_at is None:
        participant.screen_share_started_at = now
        room.screen_share_used = True
        rooms.sync_call_figures(room, await rooms.load_call(session, room))
    elif not active:
        rooms.stop_screen_share(room, participant, at=now)
    await session.flush()


async def peers(session: AsyncSession, *, org_id: str, room_id: str) -> list[VideoParticipant]:
    """The room's participants that have not left."""
    rows = await session.scalars(
        select(VideoParticipant).where(
            VideoParticipant.org_id == org_id,
            VideoParticipant.room_id == room_id,
            VideoParticipant.left_at.is_(None),
        )
    )
    return list(rows)
