"""Webinars: schedule, read, list, change, cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.engagement.webinars import events
from commbase.engagement.webinars.enums import RegistrationStatus, WebinarStatus
from commbase.engagement.webinars.models import Webinar, WebinarRegistration
from commbase.engagement.webinars.schemas import WebinarCreate, WebinarUpdate


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("join_url") is not None:
        data["join_url"] = str(data["join_url"])
    return data


async def create_webinar(session: AsyncSession, *, org_id: str, data: WebinarCreate) -> Webinar:
    webinar = Webinar(org_id=org_id, status=WebinarStatus.SCHEDULED, **_stored(data.model_dump()))
    session.add(webinar)
    await session.flush()
    await outbox.record(
        session, events.WEBINAR_CREATED, {"id": webinar.id, "status": webinar.status}, org_id=org_id
    )
    return webinar


async def get_webinar(
    session: AsyncSession, *, org_id: str, webinar_id: str, for_update: bool = False
) -> Webinar:
    """The webinar; ``for_update`` locks its row (PostgreSQL) until the commit."""
    statement = select(Webinar).where(Webinar.org_id == org_id, Webinar.id == webinar_id)
    if for_update:
        statement = statement.with_for_update()
    webinar = await session.scalar(statement)
    if webinar is None:
        raise NotFound("Webinar not found")
    return webinar


async def registered_counts(session: AsyncSession, *, webinar_ids: Sequence[str]) -> dict[str, int]:
    """Registrations not cancelled, per webinar."""
    if not webinar_ids:
        return {}
    rows = await session.execute(
        select(WebinarRegistration.webinar_id, func.count())
        .where(
            WebinarRegistration.webinar_id.in_(webinar_ids),
            WebinarRegistration.status != RegistrationStatus.CANCELLED,
        )
        .group_by(WebinarRegistration.webinar_id)
    )
    counts = {webinar_id: 0 for webinar_id in webinar_ids}
    counts.update({row[0]: int(row[1]) for row in rows})
    return counts


async def list_webinars(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: WebinarStatus | None = None,
    starts_from: dt.datetime | None = None,
    starts_before: dt.datetime | None = None,
) -> tuple[Sequence[Webinar], str | None]:
    statement = select(Webinar).where(Webinar.org_id == org_id)
    if status is not None:
        statement = statement.where(Webinar.status == status)
    if starts_from is not None:
        statement = statement.where(Webinar.starts_at >= starts_from)
    if starts_before is not None:
        statement = statement.where(Webinar.starts_at < starts_before)
    return await paginate(session, statement, id_column=Webinar.id, params=params)


async def update_webinar(
    session: AsyncSession, *, webinar: Webinar, changes: WebinarUpdate
) -> Webinar:
    """Apply ``changes``; capacity cannot drop below the registrations held."""
    if webinar.status == WebinarStatus.CANCELLED:
        raise Conflict("A cancelled webinar cannot change")
    data = _stored(changes.model_dump(exclude_unset=True))
    if data.get("capacity") is not None:
        held = (await registered_counts(session, webinar_ids=[webinar.id]))[webinar.id]
        if data["capacity"] < held:
            raise Conflict(f"{held} people are registered; capacity cannot be lower")
    for field, value in data.items():
        setattr(webinar, field, value)
    await session.flush()
    await outbox.record(
        session,
        events.WEBINAR_UPDATED,
        {"id": webinar.id, "status": webinar.status, "fields": sorted(changes.model_fields_set)},
        org_id=webinar.org_id,
    )
    return webinar


async def cancel_webinar(session: AsyncSession, *, webinar: Webinar) -> Webinar:
    if webinar.status == WebinarStatus.CANCELLED:
        raise Conflict("The webinar is cancelled already")
    webinar.status = WebinarStatus.CANCELLED
    await session.flush()
    await outbox.record(
        session,
        events.WEBINAR_CANCELLED,
        {"id": webinar.id, "status": webinar.status},
        org_id=webinar.org_id,
    )
    return webinar
