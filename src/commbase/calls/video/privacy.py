"""Video rooms' part in GDPR requests.

A room holds personal data in its title, the customer's name, the agent's notes and
the guest's rating comment; a participant in its name (guests' names are what
customers typed). A user's rooms are those they created, plus the participant rows
that are theirs in any room; a contact's rooms are those linked to it. Erasure keeps
the rows (the room's call is billed and counted) with every personal column emptied.
Access token hashes are never exported.

Quality samples (``getStats()`` figures by participant id, nothing typed by a person)
expire as retention kind ``video_quality_samples``: 90 days from when they were
reported unless the organization sets its own period; the room and its call keep
the averages (running totals), so nothing shown changes when samples go.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.video.models import VideoParticipant, VideoQualitySample, VideoRoom
from commbase.contacts import service as contacts_service
from commbase.core.db import rowcount
from commbase.privacy.records import as_records, blank_personal
from commbase.privacy.registry import (
    RetentionWindow,
    delete_older_rows,
    register_retention,
    register_subject,
)

TABLES = {"video_rooms", "video_participants"}
SECRET = ("token_hash",)
QUALITY_SAMPLE_DAYS = 90


async def _room_ids(session: AsyncSession, where: ColumnElement[bool]) -> list[str]:
    return list(await session.scalars(select(VideoRoom.id).where(where).order_by(VideoRoom.id)))


async def _export(
    session: AsyncSession, *, org_id: str, room_ids: list[str], user_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    rooms = await session.scalars(
        select(VideoRoom)
        .where(VideoRoom.org_id == org_id, VideoRoom.id.in_(room_ids))
        .order_by(VideoRoom.id)
    )
    mine: ColumnElement[bool] = VideoParticipant.room_id.in_(room_ids)
    if user_id is not None:
        mine = or_(mine, VideoParticipant.user_id == user_id)
    participants = await session.scalars(
        select(VideoParticipant)
        .where(VideoParticipant.org_id == org_id, mine)
        .order_by(VideoParticipant.id)
    )
    return {
        "video_rooms": as_records(rooms),
        "video_participants": as_records(participants, omit=SECRET),
    }


async def _erase(
    session: AsyncSession,
    *,
    org_id: str,
    room_ids: list[str],
    keep: dict[Any, Any],
) -> dict[str, int]:
    rooms = rowcount(
        await session.execute(
            update(VideoRoom)
            .where(VideoRoom.org_id == org_id, VideoRoom.id.in_(room_ids))
            .values({**blank_personal(VideoRoom), **keep})
        )
    )
    participants = rowcount(
        await session.execute(
            update(VideoParticipant)
            .where(VideoParticipant.org_id == org_id, VideoParticipant.room_id.in_(room_ids))
            .values(blank_personal(VideoParticipant))
        )
    )
    return {"video_rooms": rooms, "video_participants": participants}


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    ids = await _room_ids(
        session, (VideoRoom.org_id == org_id) & (VideoRoom.created_by_user_id == subject_id)
    )
    return await _export(session, org_id=org_id, room_ids=ids, user_id=subject_id)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    ids = await _room_ids(
        session, (VideoRoom.org_id == org_id) & (VideoRoom.created_by_user_id == subject_id)
    )
    counts = await _erase(
        session, org_id=org_id, room_ids=ids, keep={VideoRoom.created_by_user_id: reference}
    )
    # Their own participant rows in other people's rooms.
    counts["video_participants"] += rowcount(
        await session.execute(
            update(VideoParticipant)
            .where(VideoParticipant.org_id == org_id, VideoParticipant.user_id == subject_id)
            .values({**blank_personal(VideoParticipant), VideoParticipant.user_id: reference})
        )
    )
    return counts


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    contact = await contacts_service.get_contact(session, org_id=org_id, contact_id=subject_id)
    ids = await _room_ids(
        session, (VideoRoom.org_id == org_id) & (VideoRoom.contact_id == contact.id)
    )
    return await _export(session, org_id=org_id, room_ids=ids)


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    contact = await contacts_service.get_contact(session, org_id=org_id, contact_id=subject_id)
    ids = await _room_ids(
        session, (VideoRoom.org_id == org_id) & (VideoRoom.contact_id == contact.id)
    )
    return await _erase(session, org_id=org_id, room_ids=ids, keep={VideoRoom.contact_id: None})


register_subject("video", "user", tables=TABLES, export=export_user, erase=erase_user)
register_subject("video", "contact", tables=TABLES, export=export_contact, erase=erase_contact)


async def purge_quality_samples(
    session: AsyncSession, *, window: RetentionWindow, limit: int
) -> int:
    """Delete up to ``limit`` samples reported before their organization's cutoff."""
    S = VideoQualitySample
    return await delete_older_rows(
        session, window, limit, key=S.id, org_id=S.org_id, moment=S.created_at
    )


register_retention(
    "video_quality_samples",
    default_days=QUALITY_SAMPLE_DAYS,
    purge=purge_quality_samples,
    per_organization=True,  # purge_quality_samples selects through window.older_than
    description="Video quality samples (getStats() reports); rooms and calls keep the averages",
)
