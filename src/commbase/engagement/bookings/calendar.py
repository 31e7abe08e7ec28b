"""iCalendar feeds of bookings at secret URLs (``icalendar``).

A feed publishes an organization's bookings, or one resource's, to calendar
apps that cannot send credentials: the URL holds a random secret (shown once,
stored as HMAC-SHA256 with the server key, like API keys). A feed lists the
bookings from 30 days ago to a year ahead (at most ``MAX_EVENTS``), cancelled
ones marked CANCELLED so subscribed calendars drop them. Events carry the
service, resource and times, never the client's name or contact details.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.bookings.enums import BookingStatus
from commbase.engagement.bookings.models import Booking, CalendarFeed
from commbase.identity.tokens import hash_token

TOKEN_PREFIX = "cbcal_"  # noqa: S105  (a prefix, not a secret)
MAX_EVENTS = 2000
PAST = dt.timedelta(days=30)
AHEAD = dt.timedelta(days=366)
_ICAL_STATUS = {
    BookingStatus.PENDING: "TENTATIVE",
    BookingStatus.CONFIRMED: "CONFIRMED",
    BookingStatus.COMPLETED: "CONFIRMED",
    BookingStatus.NO_SHOW: "CONFIRMED",
    BookingStatus.CANCELLED: "CANCELLED",
}


async def create_feed(
    session: AsyncSession, *, org_id: str, name: str, resource: str | None, secret: str
) -> tuple[CalendarFeed, str]:
    """A new feed and its secret token (returned once, stored hashed)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed(
        org_id=org_id,
        name=name,
        resource=resource,
        token_hash=hash_token(token, secret=secret),
        token_prefix=token[:12],
    )
    session.add(feed)
    await session.flush()
    return feed, token


async def get_feed(session: AsyncSession, *, org_id: str, feed_id: str) -> CalendarFeed:
    feed = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.org_id == org_id, CalendarFeed.id == feed_id)
    )
    if feed is None:
        raise NotFound("Calendar feed not found")
    return feed


async def list_feeds(
    session: AsyncSession, *, org_id: str, params: PageParams
) -> tuple[Sequence[CalendarFeed], str | None]:
    statement = select(CalendarFeed).where(CalendarFeed.org_id == org_id)
    return await paginate(session, statement, id_column=CalendarFeed.id, params=params)


async def delete_feed(session: AsyncSession, *, feed: CalendarFeed) -> None:
    """Revoke the feed: its URL answers 404 from now on."""
    await session.delete(feed)
    await session.flush()


async def render(session: AsyncSession, *, token: str, secret: str) -> bytes:
    """The feed's calendar as iCalendar bytes; NotFound for an unknown token."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise NotFound("Calendar feed not found")
    feed = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token, secret=secret))
    )
    if feed is None:
        raise NotFound("Calendar feed not found")
    now = utcnow()
    statement = select(Booking).where(
        Booking.org_id == feed.org_id,
        Booking.starts_at >= now - PAST,
        Booking.starts_at < now + AHEAD,
    )
    if feed.resource is not None:
        statement = statement.where(Booking.resource == feed.resource)
    bookings = await session.scalars(statement.order_by(Booking.starts_at).limit(MAX_EVENTS))
    calendar = Calendar()
    calendar.add("prodid", "-//commbase//bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", feed.name)
    for booking in bookings:
        event = Event()
        event.add("uid", f"{booking.id}@commbase")
        event.add("summary", booking.service)
        event.add("dtstart", booking.starts_at)
        event.add("dtend", booking.ends_at)
        event.add("dtstamp", booking.updated_at)
        event.add("status", _ICAL_STATUS[BookingStatus(booking.status)])
        if booking.resource:
            event.add("location", booking.resource)
        calendar.add_component(event)
    return bytes(calendar.to_ical())
