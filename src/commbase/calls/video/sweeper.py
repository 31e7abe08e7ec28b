"""Rooms nobody ends: the ``calls.video_sweep`` job, every minute.

* A participant whose signalling socket has stayed closed longer than
  ``COMMBASE_VIDEO_RECONNECT_GRACE_S`` (60 s) has left: ``left_at`` is when its
  socket closed, ``video.participant.left`` is recorded once, its seat is free.
  (Participants that never opened a socket are not swept: an ``sfu`` room's may
  never open one.)
* A room ends (the same end-once path as ``POST /end``) when everybody who had
  opened a socket has been gone past the grace -- billed up to the last moment an
  agent's and a guest's sockets were both open -- or when its call has lasted its
  ``max_duration_seconds`` (from connecting, else from creation), billed up to that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.video import events as video_events
from commbase.calls.video import rooms
from commbase.calls.video.bus import SERVICE_KEY, envelope
from commbase.calls.video.enums import RoomStatus
from commbase.calls.video.models import VideoParticipant, VideoRoom
from commbase.core import outbox
from commbase.core.jobs import JobContext, job
from commbase.settings import Settings

BATCH = 200


async def sweep_room(
    session: AsyncSession, *, settings: Settings, org_id: str, room_id: str, now: datetime
) -> bool:
    """Sweep one room (locked); True when it ended now."""
    room = await rooms.get_room(session, org_id=org_id, room_id=room_id, for_update=True)
    if room.status == RoomStatus.ENDED:
        return False
    cutoff = now - timedelta(seconds=settings.video_reconnect_grace_s)
    P = VideoParticipant
    everyone = list(
        await session.scalars(
            select(P)
            .where(P.org_id == org_id, P.room_id == room.id)
            .execution_options(populate_existing=True)
        )
    )
    for participant in everyone:
        gone_at = participant.disconnected_at
        if participant.left_at is None and participant.connected_at is None:
            if gone_at is None or gone_at > cutoff:
                continue
            participant.left_at = gone_at
            await outbox.record(
                session,
                video_events.VIDEO_PARTICIPANT_LEFT,
                {
                    "room_id": room.id,
                    "call_id": room.call_id,
                    "participant_id": participant.id,
                    "role": participant.role,
                },
                org_id=org_id,
            )
    call = await rooms.load_call(session, room)
    start = room.connected_at or room.created_at
    deadline = start + timedelta(seconds=call.max_duration_seconds or settings.max_call_duration_s)
    ended = False
    if now >= deadline:
        ended = await rooms.end_room(session, room=room, billed_until=deadline)
    else:
        socketed = [p for p in everyone if p.connections > 0]
        nobody = all(p.connected_at is None for p in everyone)
        last = max((p.disconnected_at for p in socketed if p.disconnected_at), default=None)
        if socketed and nobody and last is not None and last <= cutoff:
            until = room.last_together_at or room.connected_at
            ended = await rooms.end_room(session, room=room, billed_until=until)
    await session.flush()
    return ended


@job("calls.video_sweep", schedule="* * * * *", per_organization=True)
async def sweep_rooms(ctx: JobContext) -> int:
    """Mark participants gone past the grace and end the rooms nobody ends; one
    transaction per room. Returns how many rooms it ended."""
    settings: Settings = ctx.services["settings"]
    ended = 0
    after = ""
    while True:
        async with ctx.database.sessionmaker() as session:
            statement = (
                select(VideoRoom.org_id, VideoRoom.id)
                .where(VideoRoom.status != RoomStatus.ENDED, VideoRoom.id > after)
                .order_by(VideoRoom.id)
                .limit(BATCH)
            )
            if ctx.org_id is not None:
                statement = statement.where(VideoRoom.org_id == ctx.org_id)
            batch = list((await session.execute(statement)).all())
        for org_id, room_id in batch:
            async with ctx.database.sessionmaker() as session:
                now_ended = await sweep_room(
                    session, settings=settings, org_id=org_id, room_id=room_id, now=ctx.now
                )
                await session.commit()
            if now_ended:
                ended += 1
                bus = ctx.services.get(SERVICE_KEY)
                if bus is not None:
                    await bus.publish(
                        room_id, envelope(frame={"type": "room_ended"}, control="end")
                    )
        if len(batch) < BATCH:
            return ended
        after = batch[-1][1]
