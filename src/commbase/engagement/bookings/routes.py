"""Bookings API (seed 004 ``bookings``). Thin: parse, authorize, call the service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from commbase.core.auth import AnonymousRateLimit, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId, UtcDateTime
from commbase.engagement.bookings import calendar, scheduling, service
from commbase.engagement.bookings.enums import BookingStatus
from commbase.engagement.bookings.models import Booking
from commbase.engagement.bookings.schemas import (
    BookingCancel,
    BookingCreate,
    BookingRead,
    BookingUpdate,
    CalendarFeedCreate,
    CalendarFeedCreated,
    CalendarFeedRead,
)

router = APIRouter(prefix="/v1/bookings", tags=["bookings"])
feeds_router = APIRouter(tags=["bookings"])

TAKEN: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "description": "Another booking holds that time on the resource or staff member "
        "(``booking_id`` names it), or the status does not allow the change"
    }
}
Filter = Annotated[str | None, Query(max_length=100)]


async def _read(session: DbSession, booking: Booking) -> BookingRead:
    zone = await scheduling.org_zone(session, org_id=booking.org_id)
    local = booking.starts_at.astimezone(zone)
    return BookingRead.model_validate(
        {
            **{c.key: getattr(booking, c.key) for c in Booking.__table__.columns},
            "local_date": local.date(),
            "local_time": local.strftime("%H:%M:%S"),
            "timezone": zone.key,
        }
    )


async def _booking(booking_id: str, principal: CurrentPrincipal, session: DbSession) -> Booking:
    return await service.get_booking(session, org_id=principal.org_id, booking_id=booking_id)


@router.post("", response_model=BookingRead, status_code=status.HTTP_201_CREATED, responses=TAKEN)
async def create_booking(
    body: BookingCreate, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    """Make a booking; overlapping bookings of one resource or staff member are refused."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    booking = await service.create_booking(session, org_id=principal.org_id, data=body)
    return await _read(session, booking)


@router.get("", response_model=Page[BookingRead])
async def list_bookings(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status: BookingStatus | None = None,
    resource: Filter = None,
    staff_user_id: Filter = None,
    contact_id: Filter = None,
    starts_from: Annotated[UtcDateTime | None, Query()] = None,
    starts_before: Annotated[UtcDateTime | None, Query()] = None,
) -> Page[BookingRead]:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_bookings(
        session,
        org_id=principal.org_id,
        params=page,
        status=status,
        resource=resource,
        staff_user_id=staff_user_id,
        contact_id=contact_id,
        starts_from=starts_from,
        starts_before=starts_before,
    )
    return Page(data=[await _read(session, r) for r in rows], next_cursor=cursor)


@router.post(
    "/calendar-feeds", response_model=CalendarFeedCreated, status_code=status.HTTP_201_CREATED
)
async def create_calendar_feed(
    body: CalendarFeedCreate, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> CalendarFeedCreated:
    """A secret iCalendar URL for the organization's bookings (or one resource's)."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    feed, token = await calendar.create_feed(
        session,
        org_id=principal.org_id,
        name=body.name,
        resource=body.resource,
        secret=settings.secret_key.get_secret_value(),
    )
    url = f"{settings.public_base_url.rstrip('/')}/v1/calendars/{token}.ics"
    return CalendarFeedCreated(**CalendarFeedRead.model_validate(feed).model_dump(), url=url)


@router.get("/calendar-feeds", response_model=Page[CalendarFeedRead])
async def list_calendar_feeds(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Page[CalendarFeedRead]:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await calendar.list_feeds(session, org_id=principal.org_id, params=page)
    return Page(data=[CalendarFeedRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.delete("/calendar-feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_calendar_feed(
    feed_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> None:
    principal.require(Scope.ENGAGEMENT_WRITE)
    feed = await calendar.get_feed(session, org_id=principal.org_id, feed_id=feed_id)
    await calendar.delete_feed(session, feed=feed)


@router.get("/{booking_id}", response_model=BookingRead)
async def get_booking(
    booking_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    principal.require(Scope.ENGAGEMENT_READ)
    return await _read(session, await _booking(booking_id, principal, session))


@router.patch("/{booking_id}", response_model=BookingRead, responses=TAKEN)
async def update_booking(
    booking_id: PathId, body: BookingUpdate, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    booking = await _booking(booking_id, principal, session)
    return await _read(
        session, await service.update_booking(session, booking=booking, changes=body)
    )


@router.post("/{booking_id}/confirm", response_model=BookingRead, responses=TAKEN)
async def confirm_booking(
    booking_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    booking = await _booking(booking_id, principal, session)
    return await _read(session, await service.confirm(session, booking=booking))


@router.post("/{booking_id}/complete", response_model=BookingRead, responses=TAKEN)
async def complete_booking(
    booking_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    booking = await _booking(booking_id, principal, session)
    return await _read(session, await service.complete(session, booking=booking))


@router.post("/{booking_id}/cancel", response_model=BookingRead, responses=TAKEN)
async def cancel_booking(
    booking_id: PathId, body: BookingCancel, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    booking = await _booking(booking_id, principal, session)
    return await _read(session, await service.cancel(session, booking=booking, reason=body.reason))


@router.post("/{booking_id}/no-show", response_model=BookingRead, responses=TAKEN)
async def mark_no_show(
    booking_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> BookingRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    booking = await _booking(booking_id, principal, session)
    return await _read(session, await service.mark_no_show(session, booking=booking))


@feeds_router.get(
    "/v1/calendars/{feed_token}.ics",
    response_class=Response,
    dependencies=[AnonymousRateLimit],
    responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}},
)
async def calendar_feed(
    feed_token: Annotated[str, Path(max_length=100)], session: DbSession, settings: AppSettings
) -> Response:
    """The bookings of a calendar feed as iCalendar; the URL's secret is the credential."""
    body = await calendar.render(
        session, token=feed_token, secret=settings.secret_key.get_secret_value()
    )
    return Response(content=body, media_type="text/calendar; charset=utf-8")
