"""The messages a campaign batch sends: one per recipient, in a conversation with
its contact on the campaign's account.

A message's id is derived from its recipient's (``crcp_X`` sends ``msg_X``), so a
recipient can never own two messages, and a batch taken over from a worker that
died sends the same message again (the provider sees the same id) rather than a
second one. Messages are written queued and claimed by the runner
(``claimed_by``/``claim_expires_at``), with no ``next_attempt_at``, so messaging's
own send worker leaves them to the runner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts.models import Contact
from commbase.core import outbox
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.messaging import events as messaging_events
from commbase.messaging.campaigns.models import Campaign, CampaignRecipient
from commbase.messaging.enums import (
    AuthorRole,
    ContentType,
    ConversationStatus,
    Direction,
    MessageStatus,
)
from commbase.messaging.models import ChannelAccount, Conversation, Message

RECIPIENT_PREFIX = "crcp_"
MESSAGE_PREFIX = "msg_"
_SUFFIX_AT = len(RECIPIENT_PREFIX) + 1  # SQL's substr counts from 1


def message_id_of(recipient_id: str) -> str:
    """The id of the one message a recipient is sent."""
    return MESSAGE_PREFIX + recipient_id.removeprefix(RECIPIENT_PREFIX)


@dataclass(frozen=True)
class Outgoing:
    """What a provider needs to send one campaign message."""

    message_id: str
    recipient_id: str
    conversation_id: str
    contact_id: str
    to: str  # E.164


@dataclass(frozen=True)
class Claimed:
    """A recipient row a runner has locked."""

    id: str
    contact_id: str
    message_id: str | None


@dataclass(frozen=True)
class SendOutcome:
    """What the provider said about one message."""

    message_id: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    final: bool = False  # a refusal no retry can fix

    @property
    def sent(self) -> bool:
        return self.provider_message_id is not None


@dataclass
class Batch:
    campaign: Campaign
    account: ChannelAccount
    outgoing: list[Outgoing] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)  # message id -> attempts so far


# Sends a batch of one campaign's messages (``sending.py`` has the real one).
Sender = Callable[[Batch], Awaitable[list[SendOutcome]]]


def message_payload(message: Any) -> dict[str, object]:
    """The event payload of a ``Message``, or of a row holding the same columns."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "account_id": message.account_id,
        "contact_id": message.contact_id,
        "direction": message.direction,
        "author_role": message.author_role,
        "content_type": message.content_type,
        "status": message.status,
        "campaign_id": message.campaign_id,
        "error_code": message.error_code,
        "error_message": message.error_message,
    }


async def contact_phones(
    session: AsyncSession, *, org_id: str, contact_ids: Sequence[str]
) -> dict[str, tuple[str | None, bool]]:
    """contact id -> (phone, blocked), for the contacts that still exist."""
    rows = await session.execute(
        select(Contact.id, Contact.phone, Contact.blocked).where(
            Contact.org_id == org_id, Contact.id.in_(list(contact_ids))
        )
    )
    return {row.id: (row.phone, row.blocked) for row in rows}


async def _conversations(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    contacts: dict[str, str],
) -> tuple[dict[str, str], set[str]]:
    """contact id -> the contact's unresolved conversation on the account (opened if none,
    already counting the message about to be written), and the ids of those found open."""
    rows = await session.execute(
        select(Conversation.active_contact_key, Conversation.id).where(
            Conversation.account_id == account.id,
            Conversation.active_contact_key.in_(list(contacts)),
        )
    )
    found: dict[str, str] = {str(key): conversation_id for key, conversation_id in rows.all()}
    existing = set(found.values())
    now = utcnow()
    missing = [contact_id for contact_id in contacts if contact_id not in found]
    new_rows = []
    for contact_id in missing:
        conversation_id = new_id("conv")
        found[contact_id] = conversation_id
        new_rows.append(
            {
                "id": conversation_id,
                "org_id": account.org_id,
                "account_id": account.id,
                "contact_id": contact_id,
                "active_contact_key": contact_id,
                "channel": account.kind,
                "client_phone": contacts[contact_id],
                "status": ConversationStatus.OPEN,
                "message_count": 1,
                "outbound_count": 1,
                "last_activity_at": now,
                "created_at": now,
                "updated_at": now,
                "facts_changed_at": now,
            }
        )
    if new_rows:
        await session.execute(insert(Conversation), new_rows)
        await outbox.record_many(
            session,
            messaging_events.CONVERSATION_CREATED,
            [
                {
                    "id": row["id"],
                    "account_id": account.id,
                    "contact_id": row["contact_id"],
                    "channel": account.kind,
                    "status": ConversationStatus.OPEN,
                }
                for row in new_rows
            ],
            org_id=account.org_id,
        )
    return {contact_id: found[contact_id] for contact_id in contacts}, existing


async def write_messages(
    session: AsyncSession,
    *,
    campaign: Campaign,
    account: ChannelAccount,
    recipients: Sequence[Claimed],
    phones: dict[str, str],
    worker_id: str,
    lease_s: float,
) -> list[Outgoing]:
    """The queued, claimed message of each recipient that has none yet."""
    conversations, existing = await _conversations(
        session, account=account, contacts={r.contact_id: phones[r.contact_id] for r in recipients}
    )
    now = utcnow()
    expires = now + timedelta(seconds=lease_s)
    rows = []
    outgoing = []
    for recipient in recipients:
        message_id = message_id_of(recipient.id)
        conversation_id = conversations[recipient.contact_id]
        rows.append(
            {
                "id": message_id,
                "org_id": campaign.org_id,
                "account_id": account.id,
                "conversation_id": conversation_id,
                "contact_id": recipient.contact_id,
                "direction": Direction.OUTBOUND,
                "author_role": AuthorRole.SYSTEM,
                "content_type": ContentType.TEMPLATE,
                "template_name": campaign.template_name,
                "template_language": campaign.template_language,
                "template_parameters": list(campaign.template_parameters),
                "metadata_": {},
                "campaign_id": campaign.id,
                "provider": account.provider,
                "status": MessageStatus.QUEUED,
                "queued_at": now,
                "attempts": 0,
                "claimed_by": worker_id,
                "claim_expires_at": expires,
                "created_at": now,
                "updated_at": now,
            }
        )
        outgoing.append(
            Outgoing(
                message_id=message_id,
                recipient_id=recipient.id,
                conversation_id=conversation_id,
                contact_id=recipient.contact_id,
                to=phones[recipient.contact_id],
            )
        )
    if rows:
        await session.execute(insert(Message), rows)
        # One statement: each recipient's message id derives from its own id (``crcp_X``
        # sends ``msg_X``, as ``message_id_of`` says), so SQL can write it.
        await session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id.in_([item.recipient_id for item in outgoing]))
            .values(
                message_id=literal(MESSAGE_PREFIX) + func.substr(CampaignRecipient.id, _SUFFIX_AT),
                claimed_by=worker_id,
                lease_until=expires,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    if existing:  # conversations opened above already count their message
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(sorted(existing)))
            .values(
                message_count=Conversation.message_count + 1,
                outbound_count=Conversation.outbound_count + 1,
                last_activity_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return outgoing
