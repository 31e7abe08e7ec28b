"""When a booking happens and whether its time is free.

Times are stored in UTC; a start given as the seed's ``date`` + ``time`` is read in
the organization's time zone (a wall-clock time that does not exist, inside a
daylight-saving gap, is refused rather than shifted).

**No double booking.** Two bookings that hold time (pending, confirmed, completed)
may not overlap on the same resource or the same staff member. The check and the
insert must not interleave with another writer's: on PostgreSQL the transaction
first takes an advisory transaction lock per (organization, resource) and per
(organization, staff member), in a fixed order, so concurrent bookings of one
resource queue and the second sees the first; SQLite runs one writer at a time
(every write transaction begins IMMEDIATE), which gives the same guarantee.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import Conflict, invalid
from commbase.engagement.bookings.enums import HOLDING
from commbase.engagement.bookings.models import Booking
from commbase.identity import service as identity_service


async def org_zone(session: AsyncSession, *, org_id: str) -> ZoneInfo:
    org = await identity_service.get_organization(session, org_id=org_id)
    return ZoneInfo(org.timezone or "UTC")


def local_start(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """``day`` at ``at`` in ``zone``, as UTC; ValidationFailed inside a DST gap."""
    naive = dt.datetime.combine(day, at.replace(tzinfo=None))
    local = naive.replace(tzinfo=zone)
    # A wall time that does not exist comes back different after a round trip.
    if local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise invalid(f"{day} {at} does not exist in {zone.key} (a daylight-saving gap)", "time")
    return local.astimezone(dt.UTC)


async def _lock(session: AsyncSession, keys: list[str]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction already excludes every other writer
    for key in sorted(keys):
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def claim_time(
    session: AsyncSession,
    *,
    org_id: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    resource: str | None,
    staff_user_id: str | None,
    booking_id: str | None = None,
) -> None:
    """Conflict (409) if another booking holding time overlaps on the resource or the
    staff member; otherwise hold the locks that keep it so until the commit."""
    keys = []
    if resource is not None:
        keys.append(f"booking:{org_id}:resource:{resource}")
    if staff_user_id is not None:
        keys.append(f"booking:{org_id}:staff:{staff_user_id}")
    if not keys:
        return
    await _lock(session, keys)
    occupies = []
    if resource is not None:
        occupies.append(Booking.resource == resource)
    if staff_user_id is not None:
        occupies.append(Booking.staff_user_id == staff_user_id)
    statement = select(Booking.id, Booking.starts_at, Booking.ends_at).where(
        Booking.org_id == org_id,
        Booking.status.in_(HOLDING),
        Booking.starts_at < ends_at,
        Booking.ends_at > starts_at,
        or_(*occupies),
    )
    if booking_id is not None:
        statement = statement.where(Booking.id != booking_id)
    clash = (await session.execute(statement.order_by(Booking.starts_at).limit(1))).first()
    if clash is not None:
        raise Conflict(
            f"Booking {clash.id} already holds that time "
            f"({clash.starts_at.isoformat()} to {clash.ends_at.isoformat()})",
            booking_id=clash.id,
        )
