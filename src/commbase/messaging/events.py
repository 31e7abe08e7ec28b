"""Event types the messaging domain records in the outbox.

Payloads carry ids and states, never message text: a subscriber reads the
message through the API if it needs the body.
"""

from __future__ import annotations

from commbase.core.events import EventPayload, define
from commbase.messaging.enums import MessageStatus


class MessagePayload(EventPayload):
    id: str
    conversation_id: str
    account_id: str
    contact_id: str | None
    direction: str
    author_role: str
    content_type: str
    status: str
    campaign_id: str | None
    error_code: str | None = None
    error_message: str | None = None


class ConversationPayload(EventPayload):
    id: str
    account_id: str
    contact_id: str | None
    channel: str
    status: str
    previous_status: str | None = None
    assignee_user_id: str | None = None
    assignee_agent_session_id: str | None = None


class OptedOutPayload(EventPayload):
    contact_id: str
    source: str
    account_id: str | None
    message_id: str | None


MESSAGE_QUEUED = define(
    "message.queued", MessagePayload, "An outbound message was stored; it is being sent."
)
MESSAGE_RECEIVED = define(
    "message.received", MessagePayload, "A contact's message arrived in a conversation."
)
MESSAGE_SENT = define("message.sent", MessagePayload, "The provider accepted a message.")
MESSAGE_DELIVERED = define(
    "message.delivered", MessagePayload, "A message reached the contact's device."
)
MESSAGE_READ = define("message.read", MessagePayload, "The contact read a message.")
MESSAGE_FAILED = define(
    "message.failed", MessagePayload, "A message could not be sent or delivered; final."
)
CONVERSATION_CREATED = define(
    "conversation.created", ConversationPayload, "A conversation with a contact was opened."
)
CONVERSATION_STATUS_CHANGED = define(
    "conversation.status_changed",
    ConversationPayload,
    "A conversation became open, pending, snoozed or resolved.",
)
CONVERSATION_ASSIGNED = define(
    "conversation.assigned",
    ConversationPayload,
    "A conversation was assigned to a member or an agent session, or unassigned.",
)
CONTACT_OPTED_OUT = define(
    "contact.opted_out",
    OptedOutPayload,
    "A contact asked for no more campaign messages (replied STOP) or was marked so.",
)

BY_STATUS = {
    MessageStatus.SENT: MESSAGE_SENT,
    MessageStatus.DELIVERED: MESSAGE_DELIVERED,
    MessageStatus.READ: MESSAGE_READ,
    MessageStatus.FAILED: MESSAGE_FAILED,
}
