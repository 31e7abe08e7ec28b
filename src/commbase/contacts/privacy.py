"""The contact book's part in GDPR requests.

A contact is a person the organization talks to: erasing one deletes its row
(calls to it are anonymised by the calls domain first, which finds them through
this row). A user's contact book -- the contacts they own, and those of agent
sessions acting on their behalf -- exists only for them, so erasing the user
deletes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.contacts import service
from commbase.contacts.metrics import CONTACTS
from commbase.contacts.models import Contact
from commbase.core.db import rowcount
from commbase.identity import privacy as identity_privacy
from commbase.privacy.records import as_record, as_records
from commbase.privacy.registry import register_subject


async def _owned_by_user(
    session: AsyncSession, *, org_id: str, user_id: str
) -> ColumnElement[bool]:
    acting = await identity_privacy.agent_sessions_acting_for(
        session, org_id=org_id, user_id=user_id
    )
    return and_(
        Contact.org_id == org_id,
        or_(Contact.owner_user_id == user_id, Contact.owner_agent_session_id.in_(acting)),
    )


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The user's contact book in the organization."""
    where = await _owned_by_user(session, org_id=org_id, user_id=subject_id)
    rows = await session.scalars(select(Contact).where(where).order_by(Contact.id))
    return {"contacts": as_records(rows)}


async def _untally(session: AsyncSession, org_id: str, where: Any) -> None:
    """Erased contacts stop counting in analytics (their hours are refolded)."""
    created = await session.scalars(select(Contact.created_at).where(where))
    await touches.touch(session, org_id=org_id, source=CONTACTS, times=created)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    """Delete the user's contact book in the organization."""
    where = await _owned_by_user(session, org_id=org_id, user_id=subject_id)
    await _untally(session, org_id, where)
    result = await session.execute(delete(Contact).where(where))
    return {"contacts": rowcount(result)}


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    contact = await service.get_contact(session, org_id=org_id, contact_id=subject_id)
    return {"contact": [as_record(contact)]}


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    where = (Contact.org_id == org_id) & (Contact.id == subject_id)
    await _untally(session, org_id, where)
    result = await session.execute(delete(Contact).where(where))
    return {"contacts": rowcount(result)}


# After calls (which find a contact's calls by its phone), before identity (which
# removes the agent sessions whose contact books go with the user).
register_subject(
    "contacts", "user", tables={"contacts"}, export=export_user, erase=erase_user, order=500
)
register_subject(
    "contacts",
    "contact",
    tables={"contacts"},
    export=export_contact,
    erase=erase_contact,
    order=500,
)
