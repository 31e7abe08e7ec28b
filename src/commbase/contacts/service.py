"""The contact book: create, read, list and search, update, delete; call stats.

Ownership: a contact belongs to a user, or to a guest agent session. Callers
that pass ``owner_agent_session_id`` to a read or write see only that agent
session's contacts; without it, every contact of the organization.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import phonenumbers
from sqlalchemy import Select, case, func, literal, or_, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.contacts import events
from commbase.contacts.metrics import CONTACTS
from commbase.contacts.models import Contact
from commbase.contacts.schemas import (
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_BYTES,
    ContactCreate,
    ContactUpdate,
)
from commbase.core import outbox
from commbase.core.db import UTCDateTime, json_array_contains, rowcount
from commbase.core.errors import NotFound, ValidationFailed
from commbase.core.pagination import PageParams, paginate


def format_national(e164: str | None) -> str | None:
    """The number as written at home, e.g. ``(415) 555-1234`` for ``+14155551234``."""
    if e164 is None:
        return None
    number = phonenumbers.parse(e164, None)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``current`` updated with ``changes``; a null in ``changes`` removes that key."""
    merged = {**current, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def _check_attributes(attributes: dict[str, Any]) -> None:
    if len(attributes) <= MAX_ATTRIBUTES and len(orjson.dumps(attributes)) <= MAX_ATTRIBUTES_BYTES:
        return
    raise ValidationFailed(
        "The merged attributes are too large",
        errors=[
            {
                "loc": ["body", "attributes"],
                "field": "attributes",
                "message": f"at most {MAX_ATTRIBUTES} keys and {MAX_ATTRIBUTES_BYTES} bytes",
            }
        ],
    )


def _visible(*, org_id: str, owner_agent_session_id: str | None) -> Select[Contact]:
    """Contacts of ``org_id``; only that agent session's when one is given."""
    statement = select(Contact).where(Contact.org_id == org_id)
    if owner_agent_session_id is not None:
        statement = statement.where(Contact.owner_agent_session_id == owner_agent_session_id)
    return statement


async def create_contact(
    session: AsyncSession,
    *,
    org_id: str,
    data: ContactCreate,
    owner_user_id: str | None = None,
    owner_agent_session_id: str | None = None,
) -> Contact:
    """Add a contact owned by a user or by an agent session."""
    contact = Contact(
        org_id=org_id,
        owner_user_id=owner_user_id,
        owner_agent_session_id=owner_agent_session_id,
        name=data.name,
        phone=data.phone,
        phone_formatted=format_national(data.phone),
        labels=data.labels,
        notes=data.notes,
        metadata_=data.metadata.model_dump(mode="json", exclude_none=True),
        attributes=data.attributes,
        blocked=data.blocked,
    )
    session.add(contact)
    await session.flush()
    await outbox.record(
        session,
        events.CONTACT_CREATED,
        {
            "id": contact.id,
            "owner_user_id": owner_user_id,
            "owner_agent_session_id": owner_agent_session_id,
        },
        org_id=org_id,
    )
    return contact


async def get_contact(
    session: AsyncSession,
    *,
    org_id: str,
    contact_id: str,
    owner_agent_session_id: str | None = None,
) -> Contact:
    """The contact ``contact_id`` if the caller may see it; otherwise NotFound."""
    statement = _visible(org_id=org_id, owner_agent_session_id=owner_agent_session_id)
    contact = await session.scalar(statement.where(Contact.id == contact_id))
    if contact is None:
        raise NotFound("Contact not found")
    return contact


async def list_contacts(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    label: str | None = None,
    blocked: bool | None = None,
    owner_user_id: str | None = None,
    owner_agent_session_id: str | None = None,
    search: str | None = None,
) -> tuple[Sequence[Contact], str | None]:
    """One page of contacts, newest first; ``search`` matches the name or phone digits."""
    statement = _visible(org_id=org_id, owner_agent_session_id=owner_agent_session_id)
    if label:
        # The column's Python type is JSON (JSONB only as a PostgreSQL variant), which
        # lacks JSONB's ``@>``; coercing gives it without changing the SQL elsewhere.
        labels = type_coerce(Contact.labels, JSONB)
        dialect = session.get_bind().dialect.name
        statement = statement.where(json_array_contains(labels, label, dialect=dialect))
    if blocked is not None:
        statement = statement.where(Contact.blocked.is_(blocked))
    if owner_user_id:
        statement = statement.where(Contact.owner_user_id == owner_user_id)
    if search:
        matches = [func.lower(Contact.name).contains(search.lower(), autoescape=True)]
        digits = re.sub(r"\D", "", search)
        if digits:
            matches.append(Contact.phone.contains(digits))
        statement = statement.where(or_(*matches))
    return await paginate(session, statement, id_column=Contact.id, params=params)


async def update_contact(
    session: AsyncSession, *, contact: Contact, changes: ContactUpdate
) -> Contact:
    """Apply ``changes``; ``metadata`` and ``attributes`` merge key by key."""
    data = changes.model_dump(mode="json", exclude_unset=True)
    if "metadata" in data:
        contact.metadata_ = _merged(contact.metadata_, data.pop("metadata"))
    if "attributes" in data:
        attributes = _merged(contact.attributes, data.pop("attributes"))
        _check_attributes(attributes)
        contact.attributes = attributes
    if "phone" in data:
        data["phone_formatted"] = format_national(data["phone"])
    for field, value in data.items():
        setattr(contact, field, value)
    fields = sorted(changes.model_fields_set)
    await outbox.record(
        session, events.CONTACT_UPDATED, {"id": contact.id, "fields": fields}, org_id=contact.org_id
    )
    await session.flush()
    return contact


async def delete_contact(session: AsyncSession, *, contact: Contact) -> None:
    await outbox.record(session, events.CONTACT_DELETED, {"id": contact.id}, org_id=contact.org_id)
    await touches.touch(session, org_id=contact.org_id, source=CONTACTS, times=[contact.created_at])
    await session.delete(contact)
    await session.flush()


async def find_by_phone(
    session: AsyncSession,
    *,
    org_id: str,
    phone: str,
    owner_user_id: str | None = None,
    owner_agent_session_id: str | None = None,
) -> Contact | None:
    """The oldest contact of ``org_id`` with the E.164 ``phone``, of that owner when given."""
    statement = select(Contact).where(Contact.org_id == org_id, Contact.phone == phone)
    if owner_user_id is not None:
        statement = statement.where(Contact.owner_user_id == owner_user_id)
    if owner_agent_session_id is not None:
        statement = statement.where(Contact.owner_agent_session_id == owner_agent_session_id)
    return await session.scalar(statement.order_by(Contact.id).limit(1))


async def is_blocked(session: AsyncSession, *, org_id: str, phone: str) -> bool:
    """Whether any contact of ``org_id`` with this E.164 ``phone`` is blocked."""
    blocked = await session.scalar(
        select(Contact.id)
        .where(Contact.org_id == org_id, Contact.phone == phone, Contact.blocked.is_(True))
        .limit(1)
    )
    return blocked is not None


async def record_call(
    session: AsyncSession, *, org_id: str, phone: str, at: datetime, duration_s: int
) -> int:
    """Count a call of ``duration_s`` seconds at ``at`` on every contact of ``org_id``
    with the E.164 ``phone``; returns how many contacts were updated.

    One UPDATE computes the new stats from the stored ones, so concurrent calls
    never lose a count; CASE instead of LEAST/GREATEST works on every backend,
    and keeps first/last right when calls are recorded out of order.
    """
    moment = literal(at, UTCDateTime())
    result = await session.execute(
        update(Contact)
        .where(Contact.org_id == org_id, Contact.phone == phone)
        .values(
            total_calls=Contact.total_calls + 1,
            total_duration=Contact.total_duration + duration_s,
            first_called_at=case(
                (Contact.first_called_at.is_(None) | (Contact.first_called_at > moment), moment),
                else_=Contact.first_called_at,
            ),
            last_called_at=case(
                (Contact.last_called_at.is_(None) | (Contact.last_called_at < moment), moment),
                else_=Contact.last_called_at,
            ),
        )
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result)
