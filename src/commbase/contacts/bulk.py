"""Contacts made in bulk for phone numbers writing in for the first time.

``create_for_phones`` is ``service.create_contact`` for many unknown numbers at
once, as an intake filer needs it: one ``INSERT ... ON CONFLICT (org_id, phone)
DO NOTHING`` in phone order (so concurrent writers wait for one another in one
order and never deadlock), ``contact.created`` recorded for each contact it made,
and the numbers another writer took meanwhile read back in one query. A number
that already has a contact keeps it: nothing is a 409 here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import events
from commbase.contacts.models import Contact
from commbase.contacts.service import format_phone, ids_by_phone, searchable
from commbase.core import outbox
from commbase.core.ids import new_id
from commbase.core.time import utcnow


def _insert_statement(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(Contact.__table__)
        .on_conflict_do_nothing(index_elements=["org_id", "phone"])
        .returning(Contact.__table__.c.phone, Contact.__table__.c.id)
    )


# Compiled once; executed with all the rows (sent as multi-row INSERTs, in order).
_INSERT = {dialect: _insert_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _row(org_id: str, phone: str, name: str, now: Any) -> dict[str, Any]:
    name = name[:200]
    return {
        "id": new_id("cnt"),
        "org_id": org_id,
        "owner_user_id": None,
        "owner_agent_session_id": None,
        "name": name,
        "search_name": searchable(name),
        "phone": phone,
        "phone_formatted": format_phone(phone),
        "labels": [],
        "notes": None,
        "metadata": {},
        "attributes": {},
        "blocked": False,
        "total_calls": 0,
        "total_duration": 0,
        "created_at": now,
        "updated_at": now,
    }


async def create_for_phones(
    session: AsyncSession, *, org_id: str, names: Mapping[str, str]
) -> dict[str, str]:
    """Phone -> contact id for every E.164 number in ``names`` (phone -> the name a
    new contact gets): the organization's contact with that phone, created if none."""
    if not names:
        return {}
    now = utcnow()
    rows = [_row(org_id, phone, names[phone], now) for phone in sorted(names)]
    statement = _INSERT[session.get_bind().dialect.name]
    created = {phone: id_ for phone, id_ in (await session.execute(statement, rows)).all()}
    await outbox.record_many(
        session,
        events.CONTACT_CREATED,
        [
            {"id": contact_id, "owner_user_id": None, "owner_agent_session_id": None}
            for contact_id in sorted(created.values())
        ],
        org_id=org_id,
    )
    taken = [phone for phone in names if phone not in created]
    return {**created, **await ids_by_phone(session, org_id=org_id, phones=taken)}
