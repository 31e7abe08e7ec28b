"""The contact book: create, read, list and search, update, delete (call stats:
``contacts.counters``, re-exported here as ``record_call``).

Ownership: a contact belongs to a user, or to a guest agent session. Callers
that pass ``owner_agent_session_id`` to a read or write see only that agent
session's contacts; without it, every contact of the organization.

One phone, one contact: a phone number belongs to at most one contact of an
organization (a unique constraint); a write that would repeat one is a 409
naming the contact that has it.

Search folds case and diacritics the same way on every database: the service
keeps ``search_name``, the name lower-cased with its accents removed, so
"novak" finds "Novák" and "NOVÁK" finds "Novak".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    Select,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.contacts import events
from commbase.contacts.counters import record_call as record_call  # re-exported
from commbase.contacts.metrics import CONTACTS
from commbase.contacts.models import Contact
from commbase.contacts.schemas import (
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_BYTES,
    ContactCreate,
    ContactUpdate,
)
from commbase.core import outbox
from commbase.core.db import json_array_contains
from commbase.core.errors import AlreadyExists, NotFound, ValidationFailed
from commbase.core.pagination import PageParams, paginate
from commbase.core.phones import international


def searchable(text: str) -> str:
    """``text`` as search compares it: case-folded, diacritics removed (``Novák`` -> ``novak``).

    Compatibility decomposition (NFKD) splits a letter from its accents, which are
    then dropped; letters that are not composed (``ł``, ``ø``) stay as they are.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def format_phone(e164: str | None) -> str | None:
    """The number written internationally, e.g. ``+420 601 123 456``."""
    return None if e164 is None else international(e164)


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


async def _phone_holder(
    session: AsyncSession, *, org_id: str, phone: str, other_than: str | None = None
) -> Contact | None:
    statement = select(Contact).where(Contact.org_id == org_id, Contact.phone == phone)
    if other_than is not None:
        statement = statement.where(Contact.id != other_than)
    return await session.scalar(statement.limit(1))


def _duplicate_phone(holder: Contact, *, visible: bool) -> AlreadyExists:
    """The 409 for a phone another contact has; its id only if the caller may see it."""
    if not visible:
        return AlreadyExists("Another contact of the organization has this phone number")
    return AlreadyExists(f"Contact {holder.id} already has this phone number", contact_id=holder.id)


async def _check_phone_free(
    session: AsyncSession,
    *,
    org_id: str,
    phone: str | None,
    contact_id: str | None,
    owner_agent_session_id: str | None,
) -> None:
    """AlreadyExists if another contact of ``org_id`` has ``phone``."""
    if phone is None:
        return
    holder = await _phone_holder(session, org_id=org_id, phone=phone, other_than=contact_id)
    if holder is not None:
        visible = owner_agent_session_id in (None, holder.owner_agent_session_id)
        raise _duplicate_phone(holder, visible=visible)


async def _write_in_savepoint(
    session: AsyncSession,
    write: Callable[[], None],
    *,
    org_id: str,
    contact_id: str | None,
    phone: str | None,
    owner_agent_session_id: str | None,
) -> None:
    """Apply ``write`` and flush it; a concurrent writer that took ``phone`` first
    (past the check before) is a 409, not a 500."""
    try:
        async with session.begin_nested():
            write()
            await session.flush()
    except IntegrityError as exc:
        holder = None
        if phone is not None:
            holder = await _phone_holder(session, org_id=org_id, phone=phone, other_than=contact_id)
        if holder is None:
            raise
        visible = owner_agent_session_id in (None, holder.owner_agent_session_id)
        raise _duplicate_phone(holder, visible=visible) from exc


async def create_contact(
    session: AsyncSession,
    *,
    org_id: str,
    data: ContactCreate,
    owner_user_id: str | None = None,
    owner_agent_session_id: str | None = None,
) -> Contact:
    """Add a contact owned by a user or by an agent session; AlreadyExists (409)
    if another contact of the organization has its phone."""
    await _check_phone_free(
        session,
        org_id=org_id,
        phone=data.phone,
        contact_id=None,
        owner_agent_session_id=owner_agent_session_id,
    )
    contact = Contact(
        org_id=org_id,
        owner_user_id=owner_user_id,
        owner_agent_session_id=owner_agent_session_id,
        name=data.name,
        search_name=searchable(data.name),
        phone=data.phone,
        phone_formatted=format_phone(data.phone),
        labels=data.labels,
        notes=data.notes,
        metadata_=data.metadata.model_dump(mode="json", exclude_none=True),
        attributes=data.attributes,
        blocked=data.blocked,
    )
    await _write_in_savepoint(
        session,
        lambda: session.add(contact),
        org_id=org_id,
        contact_id=None,
        phone=data.phone,
        owner_agent_session_id=owner_agent_session_id,
    )
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
    """One page of contacts, newest first; ``search`` matches part of the name (case
    and diacritics ignored) or of the phone's digits."""
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
    search = (search or "").strip()
    if search:
        matches = [Contact.search_name.contains(searchable(search), autoescape=True)]
        digits = re.sub(r"\D", "", search)
        if digits:
            matches.append(Contact.phone.contains(digits))
        statement = statement.where(or_(*matches))
    return await paginate(session, statement, id_column=Contact.id, params=params)


async def update_contact(
    session: AsyncSession,
    *,
    contact: Contact,
    changes: ContactUpdate,
    owner_agent_session_id: str | None = None,
) -> Contact:
    """Apply ``changes``; ``metadata`` and ``attributes`` merge key by key. AlreadyExists
    (409) if another contact has the new phone; ``owner_agent_session_id`` is the
    caller's agent session, which is told that contact's id only if it owns it."""
    data = changes.model_dump(mode="json", exclude_unset=True)
    org_id, contact_id = contact.org_id, contact.id
    phone = data.get("phone")
    if phone is not None:
        await _check_phone_free(
            session,
            org_id=org_id,
            phone=phone,
            contact_id=contact_id,
            owner_agent_session_id=owner_agent_session_id,
        )
    if "metadata" in data:
        data["metadata_"] = _merged(contact.metadata_, data.pop("metadata"))
    if "attributes" in data:
        data["attributes"] = _merged(contact.attributes, data["attributes"])
        _check_attributes(data["attributes"])
    if "phone" in data:
        data["phone_formatted"] = format_phone(phone)
    if "name" in data:
        data["search_name"] = searchable(data["name"])

    def write() -> None:
        for field, value in data.items():
            setattr(contact, field, value)

    await _write_in_savepoint(
        session,
        write,
        org_id=org_id,
        contact_id=contact_id,
        phone=phone,
        owner_agent_session_id=owner_agent_session_id,
    )
    fields = sorted(changes.model_fields_set)
    await outbox.record(
        session, events.CONTACT_UPDATED, {"id": contact_id, "fields": fields}, org_id=org_id
    )
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
    """The contact of ``org_id`` with the E.164 ``phone``, if it has that owner when given."""
    statement = select(Contact).where(Contact.org_id == org_id, Contact.phone == phone)
    if owner_user_id is not None:
        statement = statement.where(Contact.owner_user_id == owner_user_id)
    if owner_agent_session_id is not None:
        statement = statement.where(Contact.owner_agent_session_id == owner_agent_session_id)
    return await session.scalar(statement.order_by(Contact.id).limit(1))


async def ids_by_phone(
    session: AsyncSession, *, org_id: str, phones: Collection[str]
) -> dict[str, str]:
    """``find_by_phone`` for many E.164 numbers at once: phone -> contact id, for the
    numbers some contact of ``org_id`` has (one query)."""
    if not phones:
        return {}
    rows = await session.execute(
        select(Contact.phone, func.min(Contact.id))
        .where(Contact.org_id == org_id, Contact.phone.in_(sorted(set(phones))))
        .group_by(Contact.phone)
    )
    return {phone: contact_id for phone, contact_id in rows.all() if phone is not None}


async def audience(
    session: AsyncSession,
    *,
    org_id: str,
    any_labels: Sequence[str] = (),
    contact_ids: Sequence[str] | None = None,
    label: str | None = None,
    owner_user_id: str | None = None,
    q: str | None = None,
) -> list[tuple[str, str | None, bool]]:
    """(id, phone, blocked) of the contacts of ``org_id`` holding any of ``any_labels``,
    among ``contact_ids``, holding ``label``, owned by ``owner_user_id`` and whose
    name contains ``q`` (each only when given), by id: a campaign's audience."""
    statement = select(Contact.id, Contact.phone, Contact.blocked).where(Contact.org_id == org_id)
    dialect = session.get_bind().dialect.name
    labels = type_coerce(Contact.labels, JSONB)
    if any_labels:
        statement = statement.where(
            or_(*(json_array_contains(labels, one, dialect=dialect) for one in any_labels))
        )
    if contact_ids is not None:
        statement = statement.where(Contact.id.in_(list(contact_ids)))
    if label:
        statement = statement.where(json_array_contains(labels, label, dialect=dialect))
    if owner_user_id:
        statement = statement.where(Contact.owner_user_id == owner_user_id)
    if q:
        statement = statement.where(Contact.search_name.contains(searchable(q), autoescape=True))
    rows = (await session.execute(statement.order_by(Contact.id))).all()
    return [(row.id, row.phone, row.blocked) for row in rows]


async def is_blocked(session: AsyncSession, *, org_id: str, phone: str) -> bool:
    """Whether the contact of ``org_id`` with this E.164 ``phone`` is blocked."""
    blocked = await session.scalar(
        select(Contact.id)
        .where(Contact.org_id == org_id, Contact.phone == phone, Contact.blocked.is_(True))
        .limit(1)
    )
    return blocked is not None
