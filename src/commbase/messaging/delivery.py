"""The ``messaging.send`` effect: hands each queued message to its provider after commit.

* It runs once ``message.queued`` has committed; a message no longer queued (sent
  already, or failed) is left alone, so a retried effect never sends twice
  through the simulator (whose ids derive from ours). The Cloud API takes no
  idempotency key: a worker that dies between Meta's answer and recording it
  leaves the message queued and it is sent again -- the one duplicate possible.
* Per-account rate limit: at most ``send_rate_per_minute`` messages handed to the
  provider in any 60 s; past it the effect is retried later.
* A refusal (``SendRefused``) fails the message at once with the provider's code;
  a temporary failure is retried with backoff (2 s, 10 s, 30 s, 2 min, 10 min),
  then the message fails with the last reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.effects import EffectContext, effect
from commbase.core.outbox import ClaimedEvent
from commbase.core.time import utcnow
from commbase.messaging import events
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.enums import ContentType, MessageStatus
from commbase.messaging.models import ChannelAccount, Conversation, Message
from commbase.messaging.providers import provider_for
from commbase.messaging.providers.base import Outbound, SendRefused
from commbase.messaging.statuses import advance

RETRY_AFTER_S = (2, 10, 30, 120, 600)
MAX_ATTEMPTS = len(RETRY_AFTER_S) + 1
RATE_WINDOW = timedelta(seconds=60)
CLAIM = timedelta(seconds=30)
CONSUMER = "messaging.send"


class RateLimitReached(Exception):
    """The account sent its ``send_rate_per_minute`` in the last minute: try later."""


async def _over_rate(session: AsyncSession, account: ChannelAccount) -> bool:
    """Whether the account handed ``send_rate_per_minute`` messages to its provider in
    the last minute, counting those being handed over now. The caller holds the
    account's row lock, so two workers do not both take the last slot."""
    now = utcnow()
    since = now - RATE_WINDOW
    handed = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.org_id == account.org_id,
            Message.account_id == account.id,
            Message.created_at >= since - timedelta(hours=1),
            or_(
                Message.sent_at >= since,
                and_(Message.status == MessageStatus.QUEUED, Message.claim_expires_at > now),
            ),
        )
    )
    return (handed or 0) >= account.send_rate_per_minute


async def _reply_to_provider_id(session: AsyncSession, message: Message) -> str | None:
    if message.reply_to_message_id is None:
        return None
    return await session.scalar(
        select(Message.provider_message_id).where(Message.id == message.reply_to_message_id)
    )


def _recipient(conversation: Conversation) -> str:
    return (
        conversation.client_phone
        or conversation.client_email
        or conversation.session_id
        or conversation.contact_id
        or ""
    )


async def _prepare(
    ctx: EffectContext, message_id: str
) -> tuple[Outbound, ChannelAccount, str, int] | None:
    """Claim one attempt at sending: what to send, through which account and provider."""
    async with ctx.database.sessionmaker() as session:
        message = await session.get(Message, message_id, with_for_update=True)
        if message is None or message.status != MessageStatus.QUEUED:
            return None
        account = await session.get(ChannelAccount, message.account_id, with_for_update=True)
        conversation = await session.get(Conversation, message.conversation_id)
        if account is None or conversation is None:
            return None
        if await _over_rate(session, account):
            raise RateLimitReached(f"account {account.id} reached its send rate")
        message.attempts += 1
        # In flight: counted against the rate until sent or this claim runs out.
        message.claimed_by = CONSUMER
        message.claim_expires_at = utcnow() + CLAIM
        outbound = Outbound(
            message_id=message.id,
            to=_recipient(conversation),
            content_type=ContentType(message.content_type),
            body=message.body,
            media_url=message.media_url,
            media_type=message.media_type,
            template_name=message.template_name,
            template_language=message.template_language,
            template_parameters=list(message.template_parameters),
            reply_to_provider_id=await _reply_to_provider_id(session, message),
            metadata=dict(message.metadata_),
        )
        provider, attempt = message.provider, message.attempts
        await session.commit()
        session.expunge(account)
        return outbound, account, provider, attempt


async def _finish(
    ctx: EffectContext,
    message_id: str,
    *,
    status: MessageStatus,
    provider_message_id: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    async with ctx.database.sessionmaker() as session:
        message = await session.get(Message, message_id, with_for_update=True)
        if message is None:
            return
        if provider_message_id is not None:
            message.provider_message_id = provider_message_id
        await advance(
            session,
            message=message,
            status=status,
            at=utcnow(),
            error_code=error_code,
            error_message=error_message,
        )
        await session.commit()


async def _give_up(ctx: EffectContext, event: ClaimedEvent, reason: str) -> None:
    await _finish(
        ctx,
        event.payload["id"],
        status=MessageStatus.FAILED,
        error_code="send_failed",
        error_message=f"gave up after {MAX_ATTEMPTS} attempts: {reason}",
    )


@effect(
    CONSUMER,
    event_types=[events.MESSAGE_QUEUED],
    max_attempts=MAX_ATTEMPTS,
    retry_after_s=RETRY_AFTER_S,
    on_give_up=_give_up,
)
async def send(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Send the queued message ``event`` names, once."""
    prepared = await _prepare(ctx, event.payload["id"])
    if prepared is None:
        return
    outbound, account, provider_name, attempt = prepared
    settings: Any = ctx.services.get("settings")
    token = None
    if settings is not None:
        token = accounts_service.secret_of(
            account, "access_token", server_secret=settings.secret_key.get_secret_value()
        )
    provider = provider_for(
        provider_name, account=account, access_token=token, services=ctx.services
    )
    try:
        # SendFailed (and anything unexpected) propagates: the runner retries with backoff.
        sent = await provider.send(outbound=outbound, attempt=attempt)
    except SendRefused as exc:
        await _finish(
            ctx,
            outbound.message_id,
            status=MessageStatus.FAILED,
            error_code=exc.code[:40],
            error_message=exc.message,
        )
        return
    await _finish(
        ctx,
        outbound.message_id,
        status=MessageStatus.SENT,
        provider_message_id=sent.provider_message_id,
    )
