"""Who wrote: a contact's message matched to a contact of the organization.

The contact is matched by phone (E.164), else by an email address an earlier
conversation of the organization recorded, else (a web chat visitor with
neither) by the chat session an earlier conversation on the account had;
otherwise created through the contacts service (a batch's new phone numbers all
at once, ``contacts.bulk``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import bulk as contacts_bulk
from commbase.contacts import service as contacts_service
from commbase.contacts.schemas import ContactCreate, ContactMetadata
from commbase.core.errors import AlreadyExists
from commbase.core.phones import InvalidPhone, to_e164
from commbase.messaging.models import Conversation
from commbase.messaging.providers.base import InboundMessage


def e164(raw: str | None) -> str | None:
    """The E.164 form of ``raw``, None if it is not a valid number (remembered: the
    same senders write again and again, and parsing a number costs ~0.2 ms)."""
    return _e164(raw) if raw else None


@functools.lru_cache(maxsize=65_536)
def _e164(raw: str) -> str | None:
    try:
        return to_e164(raw)
    except InvalidPhone:
        return None


async def _contact_by_email(session: AsyncSession, *, org_id: str, email: str) -> str | None:
    return await session.scalar(
        select(Conversation.contact_id)
        .where(
            Conversation.org_id == org_id,
            Conversation.client_email == email,
            Conversation.contact_id.is_not(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def _contact_by_session(
    session: AsyncSession, *, account_id: str, session_id: str
) -> str | None:
    return await session.scalar(
        select(Conversation.contact_id)
        .where(
            Conversation.account_id == account_id,
            Conversation.session_id == session_id,
            Conversation.contact_id.is_not(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def match_contact(
    session: AsyncSession,
    *,
    org_id: str,
    phone: str | None,
    email: str | None,
    name: str | None,
    account_id: str | None = None,
    session_id: str | None = None,
) -> str:
    """The id of the contact writing from ``phone`` / ``email`` (or, with neither, in
    the chat ``session_id`` on ``account_id``), created if new."""
    if phone is not None:
        found = await contacts_service.find_by_phone(session, org_id=org_id, phone=phone)
        if found is not None:
            return found.id
    if email is not None:
        by_email = await _contact_by_email(session, org_id=org_id, email=email)
        if by_email is not None:
            return by_email
    if phone is None and email is None and account_id and session_id:
        by_session = await _contact_by_session(
            session, account_id=account_id, session_id=session_id
        )
        if by_session is not None:
            return by_session
    data = ContactCreate(
        name=(name or phone or email or "Visitor")[:200],
        phone=phone,
        metadata=ContactMetadata(email=email) if email else ContactMetadata(),
    )
    try:
        contact = await contacts_service.create_contact(session, org_id=org_id, data=data)
    except AlreadyExists:
        # Created by a concurrent message from the same number.
        found = await contacts_service.find_by_phone(session, org_id=org_id, phone=phone or "")
        if found is None:
            raise
        return found.id
    return contact.id


async def match_contacts(
    session: AsyncSession, *, org_id: str, account_id: str, inbound: Sequence[InboundMessage]
) -> list[str]:
    """``match_contact`` for each of ``inbound`` (messages to one account), in order:
    the known phones in one query, new phones (without an email to match by) created
    together (``contacts.bulk``), the rest (email, chat sessions) one by one."""
    phones = [e164(message.from_phone) for message in inbound]
    known = await contacts_service.ids_by_phone(
        session, org_id=org_id, phones={phone for phone in phones if phone is not None}
    )
    new_names: dict[str, str] = {}
    for phone, message in zip(phones, inbound, strict=True):
        if phone is not None and phone not in known and message.from_email is None:
            new_names.setdefault(phone, message.from_name or phone)
    if new_names:
        known.update(await contacts_bulk.create_for_phones(session, org_id=org_id, names=new_names))
    matched: list[str] = []
    for phone, message in zip(phones, inbound, strict=True):
        if phone is not None and phone in known:
            matched.append(known[phone])
            continue
        contact_id = await match_contact(
            session,
            org_id=org_id,
            phone=phone,
            email=message.from_email,
            name=message.from_name,
            account_id=account_id,
            session_id=message.session_id,
        )
        if phone is not None:
            known[phone] = contact_id
        matched.append(contact_id)
    return matched
