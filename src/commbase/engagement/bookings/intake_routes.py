"""Booking requests from website visitors: ``/v1/intake/bookings`` with a publishable key
(scope ``intake:bookings``). The booking starts pending (staff confirm it) and follows the
same overlap rule as any booking (409 when its resource is taken then); the access token
it returns reads the booking and cancels it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.core.scopes import IntakeScope
from commbase.engagement.bookings import scheduling, service
from commbase.engagement.bookings.enums import INTAKE_RECORD_TYPE, BookingStatus
from commbase.engagement.bookings.models import Booking
from commbase.engagement.bookings.routes import TAKEN
from commbase.engagement.bookings.schemas import BookingCancel, BookingIntake, BookingPublic
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt

router = APIRouter(prefix="/v1/intake", tags=["intake"])
Visit = Annotated[VisitorAccess, Depends(visitor_access(INTAKE_RECORD_TYPE, IntakeScope.BOOKINGS))]


async def _public(session: DbSession, booking: Booking) -> BookingPublic:
    zone = await scheduling.org_zone(session, org_id=booking.org_id)
    local = booking.starts_at.astimezone(zone)
    return BookingPublic.model_validate(
        {
            **{f: getattr(booking, f) for f in BookingPublic.model_fields if hasattr(booking, f)},
            "local_date": local.date(),
            "local_time": local.strftime("%H:%M:%S"),
            "timezone": zone.key,
        }
    )


@router.post(
    "/bookings",
    response_model=IntakeReceipt,
    status_code=status.HTTP_201_CREATED,
    responses=TAKEN,
)
async def request_booking(
    body: BookingIntake,
    intake: Intake,
    response: Response,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    """Request a booking from a website form; pending until staff confirm it."""
    intake.require(IntakeScope.BOOKINGS)
    response.headers.update(NO_STORE)  # the receipt carries a secret: never stored
    if body.is_bot:
        return decoy_receipt(
            object_=INTAKE_RECORD_TYPE, id_prefix="bkg", status=BookingStatus.PENDING
        )
    booking = await service.create_from_intake(session, org_id=intake.org_id, data=body)
    token = await issue_access(
        session,
        principal=intake,
        record_type=INTAKE_RECORD_TYPE,
        record_id=booking.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=booking.id,
        object=INTAKE_RECORD_TYPE,
        status=booking.status,
        access_token=token,
        created_at=booking.created_at,
    )


@router.get("/booking", response_model=BookingPublic)
async def read_my_booking(visit: Visit, session: DbSession) -> BookingPublic:
    """The booking the access token opens (X-Access-Token)."""
    booking = await service.get_booking(
        session, org_id=visit.principal.org_id, booking_id=visit.record_id
    )
    return await _public(session, booking)


@router.post("/booking/cancel", response_model=BookingPublic, responses=TAKEN)
async def cancel_my_booking(
    visit: Visit, session: DbSession, body: BookingCancel | None = None
) -> BookingPublic:
    """Cancel the booking (pending or confirmed; 409 once completed, cancelled or a
    no-show); its time is free again."""
    booking = await service.get_booking(
        session, org_id=visit.principal.org_id, booking_id=visit.record_id
    )
    reason = body.reason if body is not None else None
    return await _public(session, await service.cancel(session, booking=booking, reason=reason))
