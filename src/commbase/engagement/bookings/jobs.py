"""Scheduled booking work: announcing reminders ahead of each start."""

from __future__ import annotations

from datetime import timedelta

from commbase.core.jobs import JobContext, job
from commbase.engagement.bookings import reminders
from commbase.settings import Settings


@job("engagement.booking_reminders", schedule="*/5 * * * *", per_organization=True)
async def booking_reminders(ctx: JobContext) -> int:
    """Record ``booking.reminder_due`` once for every booking starting within the
    reminder lead time (COMMBASE_BOOKING_REMINDER_LEAD_S)."""
    settings: Settings = ctx.services["settings"]
    lead = timedelta(seconds=settings.booking_reminder_lead_s)
    announced = 0
    while True:
        async with ctx.database.sessionmaker() as session:
            batch = await reminders.announce_due(session, now=ctx.now, lead=lead, org_id=ctx.org_id)
            await session.commit()
        announced += batch
        if batch < reminders.BATCH:
            return announced
