"""Messaging metrics: messages, conversations and campaigns, split by channel account,
producing every key of seed 001's ``messages``, ``campaigns``, ``contacts`` and
``conversations`` snapshot sections.

Every fact counts in the hour it was created (``created_at``); a message's
``updated_at`` moves on every change (a status report, a reply), a conversation's
``facts_changed_at`` on a change of a column its metrics read (``FACT_COLUMNS``: a
status, an assignment, a first response, not filing's times and counts), so an
hour is refolded when its facts change. Each source carries its channel account.

Definitions (rates are x 100 with 2 decimals, 0 over a zero denominator):

* ``messages``: ``total`` every message, ``inbound``/``outbound`` by direction;
  ``sent`` outbound messages the provider accepted (status sent, delivered or
  read), ``delivered`` delivered or read, ``read`` read, ``failed`` failed;
  ``replied`` outbound messages the contact wrote back after (``replied_at``:
  the first inbound message in the conversation after it). ``deliveryRate`` =
  delivered / sent, ``readRate`` = read / delivered, ``replyRate`` = replied /
  sent, ``failureRate`` = failed / total (seed 001's example: 100 / 1500 = 6.67).
* ``campaigns``: campaigns created in the period: ``total``, ``active``
  (scheduled, running or paused now), ``completed``, ``failed``;
  ``totalRecipients`` their recipients; ``messagesSent`` campaign messages of the
  period the provider accepted; ``avgDeliveryRate`` / ``avgReadRate`` the
  delivery and read rates of the period's campaign messages taken together
  (message-weighted).
* ``contacts``: ``total``, ``new`` and ``blocked`` from the contact book (see
  ``contacts/metrics.py``); ``active`` distinct contacts who sent at least one
  message in the period; ``avgEngagementScore`` seed 001's contact engagement
  score per outbound message delivered in the period: 40 if read, 40 if the
  contact replied, plus the recency part at its full 20 (the contact was
  written to in the period), averaged over those messages. For one channel
  account, ``total``/``new``/``blocked`` count the contacts with a conversation
  on it (``new``: their first conversation on it opened in the period;
  ``blocked``: blocked now).
* ``conversations``: created in the period: ``total``; ``open`` not resolved
  now (open, pending or snoozed); ``closed`` resolved; ``avgResponseTime`` mean
  seconds from the first inbound message to the first reply.
* ``interactions`` (seed 004's daily analytics): ``totalConversations`` and
  ``chatConversations`` the conversations opened (every messaging channel is a
  chat), ``voiceConversations`` calls placed (``calls.total``), ``avgResponseTime``
  as above, ``resolutionRate`` resolved / opened and ``escalationRate`` escalated
  to a human / opened (0-1, seed 004's scale), ``avgSentiment`` mean sentiment
  score (-1..1), ``positiveInteractions`` / ``negativeInteractions`` conversations
  with that sentiment label; ``avgConversationDuration`` the average seconds from
  opening to resolution of the conversations opened in the period and resolved
  (``resolution_seconds``), ``tokensUsed`` the sum of the messages'
  ``metadata.tokens_used`` (AI tokens; messages without it count 0),
  ``smsMessagesSent`` outbound messages on SMS accounts that reached the provider
  (sent, delivered or read).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from commbase.analytics.registry import (
    Entry,
    Source,
    average,
    count,
    distinct,
    ratio,
    register,
    register_section,
    total,
)
from commbase.contacts import metrics as contacts_metrics  # its section first: extended here
from commbase.messaging.campaigns.enums import ACTIVE_CAMPAIGN, CampaignStatus
from commbase.messaging.campaigns.models import Campaign
from commbase.messaging.enums import (
    ChannelKind,
    ConversationStatus,
    Direction,
    MessageStatus,
    Sentiment,
)
from commbase.messaging.models import ChannelAccount, Conversation, Message

_EARLIER = aliased(Conversation)
REACHED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
DELIVERED = (MessageStatus.DELIVERED, MessageStatus.READ)
OUTBOUND = Message.direction == Direction.OUTBOUND
# Seed 004's smsMessagesSent: messages of the organization's SMS channel accounts.
SMS_ACCOUNT = Message.account_id.in_(
    select(ChannelAccount.id).where(ChannelAccount.kind == ChannelKind.SMS)
)
# Seed 004's tokensUsed: what a message's metadata says it cost (``tokens_used``, a
# whole number checked when the message is posted); messages without it count 0.
TOKENS_USED = Message.metadata_["tokens_used"].as_integer()

MESSAGES = Source(
    "messages",
    Message.__table__,
    org=Message.org_id,
    time=Message.created_at,
    changed=Message.updated_at,
    account=Message.account_id,
    dimensions={
        "direction": Message.direction,
        "status": Message.status,
        "author_role": Message.author_role,
        "content_type": Message.content_type,
        "agent": Message.sender_user_id,
        "agent_session": Message.sender_agent_session_id,
        "campaign": Message.campaign_id,
    },
)
CONVERSATIONS = Source(
    "conversations",
    Conversation.__table__,
    org=Conversation.org_id,
    time=Conversation.created_at,
    changed=Conversation.facts_changed_at,
    account=Conversation.account_id,
    dimensions={
        "status": Conversation.status,
        "channel": Conversation.channel,
        "agent": Conversation.assignee_user_id,
        "agent_session": Conversation.assignee_agent_session_id,
        "priority": Conversation.priority,
        "outcome": Conversation.outcome,
    },
)
CAMPAIGNS = Source(
    "campaigns",
    Campaign.__table__,
    org=Campaign.org_id,
    time=Campaign.created_at,
    changed=Campaign.updated_at,
    account=Campaign.account_id,
    dimensions={"status": Campaign.status},
)

ENGAGEMENT = (
    literal(20)
    + case((Message.status == MessageStatus.READ, 40), else_=0)
    + case((Message.replied_at.is_not(None), 40), else_=0)
)
CAMPAIGN_MESSAGE = Message.campaign_id.is_not(None)

register(
    # messages
    count("messages.total", MESSAGES, "Messages, both directions"),
    count("messages.inbound", MESSAGES, "Messages from contacts", where=~OUTBOUND),
    count("messages.outbound", MESSAGES, "Messages to contacts", where=OUTBOUND),
    count(
        "messages.sent",
        MESSAGES,
        "Outbound messages the provider accepted",
        where=OUTBOUND & Message.status.in_(REACHED),
    ),
    count(
        "messages.delivered",
        MESSAGES,
        "Outbound messages delivered (or read)",
        where=OUTBOUND & Message.status.in_(DELIVERED),
    ),
    count(
        "messages.read",
        MESSAGES,
        "Outbound messages read",
        where=OUTBOUND & (Message.status == MessageStatus.READ),
    ),
    count(
        "messages.failed",
        MESSAGES,
        "Outbound messages that failed",
        where=Message.status == MessageStatus.FAILED,
    ),
    count(
        "messages.replied",
        MESSAGES,
        "Outbound messages the contact answered",
        where=OUTBOUND & Message.replied_at.is_not(None),
    ),
    ratio("messages.delivery_rate", "messages.delivered", "messages.sent", "Delivered / sent"),
    ratio("messages.read_rate", "messages.read", "messages.delivered", "Read / delivered"),
    ratio("messages.reply_rate", "messages.replied", "messages.sent", "Replied / sent"),
    ratio("messages.failure_rate", "messages.failed", "messages.total", "Failed / all messages"),
    # conversations
    count("conversations.total", CONVERSATIONS, "Conversations opened"),
    count(
        "conversations.open",
        CONVERSATIONS,
        "Conversations opened and not resolved now",
        where=Conversation.status != ConversationStatus.RESOLVED,
    ),
    count(
        "conversations.closed",
        CONVERSATIONS,
        "Conversations opened and resolved now",
        where=Conversation.status == ConversationStatus.RESOLVED,
    ),
    average(
        "conversations.response_time_avg",
        CONVERSATIONS,
        Conversation.first_response_seconds,
        "Average first response time",
        unit="s",
    ),
    average(
        "conversations.resolution_time_avg",
        CONVERSATIONS,
        Conversation.resolution_seconds,
        "Average time to resolution",
        unit="s",
    ),
    count(
        "messages.sms_sent",
        MESSAGES,
        "Outbound messages on SMS accounts the provider accepted",
        where=OUTBOUND & Message.status.in_(REACHED) & SMS_ACCOUNT,
    ),
    total(
        "messages.tokens_used",
        MESSAGES,
        TOKENS_USED,
        "AI tokens the messages cost (their metadata.tokens_used)",
        where=TOKENS_USED.is_not(None),
    ),
    # campaigns
    count("campaigns.total", CAMPAIGNS, "Campaigns created"),
    count(
        "campaigns.active",
        CAMPAIGNS,
        "Campaigns created that are scheduled, running or paused now",
        where=Campaign.status.in_(sorted(ACTIVE_CAMPAIGN)),
    ),
    count(
        "campaigns.completed",
        CAMPAIGNS,
        "Campaigns created that completed",
        where=Campaign.status == CampaignStatus.COMPLETED,
    ),
    count(
        "campaigns.failed",
        CAMPAIGNS,
        "Campaigns created that failed",
        where=Campaign.status == CampaignStatus.FAILED,
    ),
    total("campaigns.recipients", CAMPAIGNS, Campaign.recipients_total, "Recipients of campaigns"),
    count(
        "campaigns.messages_sent",
        MESSAGES,
        "Campaign messages the provider accepted",
        where=CAMPAIGN_MESSAGE & Message.status.in_(REACHED),
    ),
    count(
        "campaigns.messages_delivered",
        MESSAGES,
        "Campaign messages delivered (or read)",
        where=CAMPAIGN_MESSAGE & Message.status.in_(DELIVERED),
    ),
    count(
        "campaigns.messages_read",
        MESSAGES,
        "Campaign messages read",
        where=CAMPAIGN_MESSAGE & (Message.status == MessageStatus.READ),
    ),
    ratio(
        "campaigns.delivery_rate",
        "campaigns.messages_delivered",
        "campaigns.messages_sent",
        "Campaign messages delivered / sent",
    ),
    ratio(
        "campaigns.read_rate",
        "campaigns.messages_read",
        "campaigns.messages_delivered",
        "Campaign messages read / delivered",
    ),
    # contacts, as messaging sees them
    distinct(
        "contacts.active",
        MESSAGES,
        Message.contact_id,
        "Contacts who wrote at least one message",
        where=~OUTBOUND,
    ),
    # contacts of one channel account: those with a conversation on it
    distinct(
        "contacts.account_total",
        CONVERSATIONS,
        Conversation.contact_id,
        "Contacts with a conversation on the account",
    ),
    distinct(
        "contacts.account_new",
        CONVERSATIONS,
        Conversation.contact_id,
        "Contacts whose first conversation on the account opened",
        where=~exists(
            select(_EARLIER.id).where(
                _EARLIER.account_id == Conversation.account_id,
                _EARLIER.contact_id == Conversation.contact_id,
                _EARLIER.created_at < Conversation.created_at,
            )
        ),
    ),
    distinct(
        "contacts.account_blocked",
        CONVERSATIONS,
        Conversation.contact_id,
        "Contacts with a conversation on the account that are blocked now",
        where=Conversation.contact_id.in_(contacts_metrics.BLOCKED_IDS),
    ),
    average(
        "contacts.engagement_score_avg",
        MESSAGES,
        ENGAGEMENT,
        "Contact engagement score per delivered outbound message",
        where=OUTBOUND & Message.status.in_(DELIVERED),
        unit="score",
    ),
)

register_section(
    "messages",
    {
        "total": "messages.total",
        "sent": "messages.sent",
        "delivered": "messages.delivered",
        "read": "messages.read",
        "failed": "messages.failed",
        "replied": "messages.replied",
        "inbound": "messages.inbound",
        "outbound": "messages.outbound",
        "deliveryRate": "messages.delivery_rate",
        "readRate": "messages.read_rate",
        "replyRate": "messages.reply_rate",
        "failureRate": "messages.failure_rate",
    },
)
register_section(
    "campaigns",
    {
        "total": "campaigns.total",
        "active": "campaigns.active",
        "completed": "campaigns.completed",
        "failed": "campaigns.failed",
        "totalRecipients": "campaigns.recipients",
        "messagesSent": "campaigns.messages_sent",
        "avgDeliveryRate": "campaigns.delivery_rate",
        "avgReadRate": "campaigns.read_rate",
    },
)
# Seed 001's contacts section: the contact book's keys plus messaging's two.
register_section(
    "contacts",
    {
        "total": Entry("contacts.new", cumulative=True, per_account="contacts.account_total"),
        "new": Entry("contacts.new", per_account="contacts.account_new"),
        "active": "contacts.active",
        "blocked": Entry(
            "contacts.blocked", cumulative=True, per_account="contacts.account_blocked"
        ),
        "avgEngagementScore": "contacts.engagement_score_avg",
    },
)
# Seed 004's daily analytics, the fields conversations give.
register(
    count(
        "conversations.escalated",
        CONVERSATIONS,
        "Conversations handed to a human",
        where=Conversation.escalated_to_human.is_(True),
    ),
    count(
        "conversations.positive",
        CONVERSATIONS,
        "Conversations with a positive sentiment",
        where=Conversation.sentiment == Sentiment.POSITIVE,
    ),
    count(
        "conversations.negative",
        CONVERSATIONS,
        "Conversations with a negative sentiment",
        where=Conversation.sentiment == Sentiment.NEGATIVE,
    ),
    average(
        "conversations.sentiment_avg",
        CONVERSATIONS,
        Conversation.sentiment_score,
        "Average sentiment score (-1..1)",
        unit="score",
    ),
    ratio(
        "conversations.resolution_rate",
        "conversations.closed",
        "conversations.total",
        "Resolved / opened (0-1)",
        percent=False,
    ),
    ratio(
        "conversations.escalation_rate",
        "conversations.escalated",
        "conversations.total",
        "Escalated / opened (0-1)",
        percent=False,
    ),
)
register_section(
    "interactions",
    {
        "totalConversations": "conversations.total",
        "chatConversations": "conversations.total",
        "voiceConversations": "calls.total",
        "avgConversationDuration": "conversations.resolution_time_avg",
        "avgResponseTime": "conversations.response_time_avg",
        "resolutionRate": "conversations.resolution_rate",
        "escalationRate": "conversations.escalation_rate",
        "avgSentiment": "conversations.sentiment_avg",
        "positiveInteractions": "conversations.positive",
        "negativeInteractions": "conversations.negative",
        "tokensUsed": "messages.tokens_used",
        "smsMessagesSent": "messages.sms_sent",
    },
)
register_section(
    "conversations",
    {
        "total": "conversations.total",
        "open": "conversations.open",
        "closed": "conversations.closed",
        "avgResponseTime": "conversations.response_time_avg",
    },
)


async def active_accounts(
    session: AsyncSession, *, org_id: str, start: datetime, end: datetime
) -> list[str]:
    """The channel accounts with messages, conversations or campaigns created in
    [start, end): each gets its own snapshot of the period."""
    found: set[str] = set()
    for model in (Message, Conversation, Campaign):
        rows = await session.scalars(
            select(model.account_id)
            .where(model.org_id == org_id, model.created_at >= start, model.created_at < end)
            .distinct()
        )
        found.update(rows.all())
    return sorted(found)
