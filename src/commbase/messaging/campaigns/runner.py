"""The campaign runner: sends each running campaign's recipients in throttled batches.

Any number of runners may work at once (in API processes and ``commbase
campaigns worker`` processes), and any may be killed mid-batch:

1. **Claim** (one short transaction): the next running campaign whose pace allows
   a batch (``next_batch_at``), locked with ``FOR UPDATE SKIP LOCKED``; up to
   ``throttle x TICK_S`` of its queued recipients whose lease has run out, locked
   the same way and leased (``claimed_by``, ``lease_until``) for ``LEASE_S``; the
   campaign's ``next_batch_at`` moves ``batch / throttle`` seconds on, so the
   throttle holds across all runners. Opted-out, blocked or vanished contacts are
   skipped here. Each remaining recipient gets its message (``outbound.py``: the
   id derives from the recipient's) unless it has one from an earlier attempt.
2. **Send** outside any transaction, renewing the batch's leases every
   ``RENEW_S`` seconds.
3. **Record** each outcome in one transaction: the message sent (provider id,
   ``message.sent``), retried later (the recipient's lease is pushed to the
   retry time) or failed for good (``message.failed``).

A runner killed between 1 and 3 stops renewing; within ``LEASE_S`` another
claims those recipients, finds their messages and sends the same messages again
(same ids: the provider, which dedupes on them, sends nothing twice). A
recipient therefore owns exactly one message whatever happens. When no queued
recipient is left, the campaign completes (``campaign.completed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.jobs import worker_name
from commbase.core.loops import repeat
from commbase.core.renewal import renewed
from commbase.core.time import utcnow
from commbase.messaging.campaigns import events, service
from commbase.messaging.campaigns.audience import opted_out
from commbase.messaging.campaigns.enums import CampaignStatus, RecipientStatus, SkipReason
from commbase.messaging.campaigns.models import Campaign, CampaignRecipient
from commbase.messaging.campaigns.outbound import (
    Batch,
    Claimed,
    Outgoing,
    Sender,
    contact_phones,
    write_messages,
)
from commbase.messaging.campaigns.recording import record
from commbase.messaging.enums import AccountStatus, MessageStatus
from commbase.messaging.models import ChannelAccount, Message

log = structlog.get_logger("commbase.campaigns")

LEASE_S = 10
RENEW_S = 3
TICK_S = 1.0  # a batch holds one second's worth of messages at the throttle
MAX_BATCH = 1000


class CampaignRunner:
    def __init__(
        self,
        database: Database,
        sender: Sender,
        *,
        worker_id: str | None = None,
        renew_every_s: float = RENEW_S,
        lease_s: float = LEASE_S,
    ) -> None:
        self.database = database
        self.sender = sender
        self.worker_id = worker_id or worker_name()
        self.renew_every_s = renew_every_s
        self.lease_s = lease_s
        self._stop = asyncio.Event()

    # ------------------------------------------------------------ starting

    async def start_due(self) -> int:
        """Start scheduled campaigns whose time has come; returns how many."""
        started = 0
        async with self.database.sessionmaker() as session:
            due = (
                await session.scalars(
                    select(Campaign)
                    .where(
                        Campaign.status == CampaignStatus.SCHEDULED,
                        Campaign.scheduled_at <= utcnow(),
                    )
                    .order_by(Campaign.scheduled_at)
                    .limit(10)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for campaign in due:
                try:
                    async with session.begin_nested():
                        await service.start_now(session, campaign=campaign)
                except Exception as exc:  # the account went away: the campaign fails
                    campaign.status = CampaignStatus.FAILED
                    campaign.failure_reason = str(getattr(exc, "detail", exc))[:500]
                started += 1
            await session.commit()
        return started

    # ------------------------------------------------------------ claiming

    async def _due_campaign(self, session: AsyncSession) -> Campaign | None:
        now = utcnow()
        return await session.scalar(
            select(Campaign)
            .where(
                Campaign.status == CampaignStatus.RUNNING,
                or_(Campaign.next_batch_at.is_(None), Campaign.next_batch_at <= now),
            )
            .order_by(Campaign.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def _queued(self, session: AsyncSession, campaign: Campaign) -> int:
        found = await session.scalar(
            select(func.count(CampaignRecipient.id)).where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.status == RecipientStatus.QUEUED,
            )
        )
        return int(found or 0)

    async def _complete(self, session: AsyncSession, campaign: Campaign) -> None:
        campaign.status = CampaignStatus.COMPLETED
        campaign.completed_at = utcnow()
        await session.flush()
        await outbox.record(
            session, events.CAMPAIGN_COMPLETED, service.payload(campaign), org_id=campaign.org_id
        )

    async def _finish_or_wait(self, session: AsyncSession, campaign: Campaign) -> None:
        """No recipient to claim: complete the campaign, or wait for others' leases."""
        if await self._queued(session, campaign):
            campaign.next_batch_at = utcnow() + timedelta(seconds=TICK_S)
            return
        await self._complete(session, campaign)

    async def _fail(self, session: AsyncSession, campaign: Campaign, reason: str) -> None:
        campaign.status = CampaignStatus.FAILED
        campaign.failure_reason = reason
        campaign.completed_at = utcnow()

    async def _skip(self, session: AsyncSession, skipped: dict[SkipReason, list[str]]) -> None:
        for reason, ids in skipped.items():
            if ids:
                await session.execute(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.id.in_(ids))
                    .values(
                        status=RecipientStatus.SKIPPED,
                        skip_reason=reason,
                        claimed_by=None,
                        lease_until=None,
                    )
                    .execution_options(synchronize_session=False)
                )

    async def _retaken(
        self, session: AsyncSession, recipients: Sequence[Claimed], phones: dict[str, str]
    ) -> tuple[list[Outgoing], dict[str, int]]:
        """Recipients whose message exists (an earlier runner died or a send is retried):
        send the same message again if it is still queued, else they are done."""
        if not recipients:
            return [], {}
        now = utcnow()
        until = now + timedelta(seconds=self.lease_s)
        rows = await session.execute(
            select(Message.id, Message.status, Message.attempts, Message.conversation_id)
            .where(Message.id.in_([r.message_id for r in recipients]))
            .with_for_update()
        )
        messages = {row.id: row for row in rows.all()}
        outgoing: list[Outgoing] = []
        attempts: dict[str, int] = {}
        done: list[dict[str, object]] = []
        for recipient in recipients:
            message = messages.get(recipient.message_id or "")
            if message is None or message.status != MessageStatus.QUEUED:
                failed = message is None or message.status == MessageStatus.FAILED
                done.append(
                    {
                        "id": recipient.id,
                        "status": RecipientStatus.FAILED if failed else RecipientStatus.SENT,
                        "claimed_by": None,
                        "lease_until": None,
                    }
                )
                continue
            attempts[message.id] = message.attempts
            outgoing.append(
                Outgoing(
                    message_id=message.id,
                    recipient_id=recipient.id,
                    conversation_id=message.conversation_id,
                    contact_id=recipient.contact_id,
                    to=phones[recipient.contact_id],
                )
            )
        if done:
            await session.execute(update(CampaignRecipient), done)
        if outgoing:
            await session.execute(
                update(Message)
                .where(Message.id.in_([o.message_id for o in outgoing]))
                .values(claimed_by=self.worker_id, claim_expires_at=until)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id.in_([o.recipient_id for o in outgoing]))
                .values(claimed_by=self.worker_id, lease_until=until)
                .execution_options(synchronize_session=False)
            )
        return outgoing, attempts

    async def claim(self) -> Batch | None:
        """Claim and prepare one batch (committed), or complete a finished campaign."""
        async with self.database.sessionmaker() as session:
            campaign = await self._due_campaign(session)
            if campaign is None:
                await session.commit()
                return None
            account = await session.get(ChannelAccount, campaign.account_id)
            if account is None or account.status != AccountStatus.ACTIVE:
                await self._fail(session, campaign, "The channel account is disabled or gone")
                await session.commit()
                return None
            batch = await self._claim_recipients(session, campaign, account)
            await session.commit()
            return batch

    async def _claim_recipients(
        self, session: AsyncSession, campaign: Campaign, account: ChannelAccount
    ) -> Batch | None:
        now = utcnow()
        # The campaign's throttle, within the account's own send rate.
        rate = min(float(campaign.throttle_per_second), account.send_rate_per_minute / 60)
        size = min(MAX_BATCH, max(1, int(rate * TICK_S)))
        rows = await session.execute(
            select(CampaignRecipient.id, CampaignRecipient.contact_id, CampaignRecipient.message_id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.status == RecipientStatus.QUEUED,
                or_(
                    CampaignRecipient.lease_until.is_(None),
                    CampaignRecipient.lease_until <= now,
                ),
            )
            .order_by(CampaignRecipient.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
        recipients = [Claimed(row.id, row.contact_id, row.message_id) for row in rows.all()]
        if not recipients:
            await self._finish_or_wait(session, campaign)
            return None
        campaign.next_batch_at = now + timedelta(seconds=len(recipients) / rate)
        ids = [r.contact_id for r in recipients]
        out = await opted_out(session, org_id=campaign.org_id, contact_ids=ids)
        contacts = await contact_phones(session, org_id=campaign.org_id, contact_ids=ids)
        phones: dict[str, str] = {}
        skipped: dict[SkipReason, list[str]] = {reason: [] for reason in SkipReason}
        sendable = []
        for recipient in recipients:
            phone, blocked = contacts.get(recipient.contact_id, (None, False))
            if recipient.contact_id in out:
                skipped[SkipReason.OPTED_OUT].append(recipient.id)
            elif blocked:
                skipped[SkipReason.BLOCKED].append(recipient.id)
            elif not phone:
                skipped[SkipReason.NO_ADDRESS].append(recipient.id)
            else:
                phones[recipient.contact_id] = phone
                sendable.append(recipient)
        campaign.skipped_opted_out += len(skipped[SkipReason.OPTED_OUT])
        await self._skip(session, skipped)
        batch = Batch(campaign=campaign, account=account)
        batch.outgoing, batch.attempts = await self._retaken(
            session, [r for r in sendable if r.message_id is not None], phones
        )
        batch.outgoing += await write_messages(
            session,
            campaign=campaign,
            account=account,
            recipients=[r for r in sendable if r.message_id is None],
            phones=phones,
            worker_id=self.worker_id,
            lease_s=self.lease_s,
        )
        await session.flush()
        return batch

    # ------------------------------------------------------------ sending

    async def _renew(self, batch: Batch) -> None:
        until = utcnow() + timedelta(seconds=self.lease_s)
        recipient_ids = [o.recipient_id for o in batch.outgoing]
        message_ids = [o.message_id for o in batch.outgoing]
        async with self.database.sessionmaker() as session:
            await session.execute(
                update(CampaignRecipient)
                .where(
                    CampaignRecipient.id.in_(recipient_ids),
                    CampaignRecipient.claimed_by == self.worker_id,
                    CampaignRecipient.status == RecipientStatus.QUEUED,
                )
                .values(lease_until=until)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(Message)
                .where(Message.id.in_(message_ids), Message.claimed_by == self.worker_id)
                .values(claim_expires_at=until)
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def send(self, batch: Batch) -> int:
        """Send a claimed batch and record what happened; returns how many were sent."""
        if not batch.outgoing:
            return 0
        writing = asyncio.Lock()

        async def renew() -> None:
            async with writing:
                await self._renew(batch)

        async with renewed(renew, every_s=self.renew_every_s, name="campaign recipients"):
            outcomes = await self.sender(batch)
            async with writing:
                sent = await record(self.database, batch, outcomes, worker_id=self.worker_id)
        await self._complete_if_done(batch.campaign.id)
        return sent

    async def _complete_if_done(self, campaign_id: str) -> None:
        """Complete the campaign at once if that batch was its last."""
        async with self.database.sessionmaker() as session:
            campaign = await session.scalar(
                select(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING)
                .with_for_update(skip_locked=True)
            )
            if campaign is not None and not await self._queued(session, campaign):
                await self._complete(session, campaign)
            await session.commit()

    async def run_once(self) -> int:
        """One round: start due campaigns, then claim and send one batch."""
        started = await self.start_due()
        batch = await self.claim()
        sent = await self.send(batch) if batch is not None else 0
        return started + sent + (1 if batch is not None else 0)

    async def run_forever(self, *, idle_s: float = 0.2) -> None:
        await repeat(
            self.run_once, stop=self._stop, pause_s=idle_s, name="campaigns", again_when_busy=True
        )

    def stop(self) -> None:
        self._stop.set()
