"""Choosing a campaign's recipients: the audience's contacts, less those who opted out.

Recipients are chosen when the campaign starts (at once, or at its scheduled
time), from the contact book as it is then: contacts holding any of the labels,
the listed contacts, or those matching the filter. Blocked contacts and contacts
without a phone number are skipped (``skipped_other``), as are contacts who opted
out (``skipped_opted_out``). One recipient row per contact: a contact named twice
gets one message.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.messaging.campaigns.enums import AudienceKind, RecipientStatus
from commbase.messaging.campaigns.models import Campaign, CampaignRecipient
from commbase.messaging.campaigns.schemas import Audience
from commbase.messaging.models import OptOut

INSERT_BATCH = 1000


async def _audience_contacts(
    session: AsyncSession, *, org_id: str, audience: Audience
) -> list[tuple[str, str | None, bool]]:
    """(contact id, phone, blocked) of every contact the audience names."""
    if audience.kind == AudienceKind.LABELS:
        return await contacts_service.audience(session, org_id=org_id, any_labels=audience.labels)
    if audience.kind == AudienceKind.CONTACTS:
        return await contacts_service.audience(
            session, org_id=org_id, contact_ids=audience.contact_ids
        )
    chosen = audience.filter
    assert chosen is not None
    return await contacts_service.audience(
        session,
        org_id=org_id,
        label=chosen.label,
        owner_user_id=chosen.owner_user_id,
        q=chosen.q,
    )


async def opted_out(session: AsyncSession, *, org_id: str, contact_ids: Sequence[str]) -> set[str]:
    """Which of ``contact_ids`` opted out of campaign messages."""
    found: set[str] = set()
    ids = list(contact_ids)
    for offset in range(0, len(ids), INSERT_BATCH):
        chunk = ids[offset : offset + INSERT_BATCH]
        found.update(
            (
                await session.scalars(
                    select(OptOut.contact_id).where(
                        OptOut.org_id == org_id, OptOut.contact_id.in_(chunk)
                    )
                )
            ).all()
        )
    return found


async def choose_recipients(session: AsyncSession, *, campaign: Campaign) -> int:
    """Write one queued recipient per reachable contact; count the skipped ones."""
    audience = Audience.model_validate(campaign.audience)
    contacts = await _audience_contacts(session, org_id=campaign.org_id, audience=audience)
    out = await opted_out(session, org_id=campaign.org_id, contact_ids=[c[0] for c in contacts])
    chosen = [cid for cid, phone, blocked in contacts if cid not in out and phone and not blocked]
    campaign.skipped_opted_out = len(out)
    campaign.skipped_other = len(contacts) - len(out) - len(chosen)
    campaign.recipients_total = len(chosen)
    now = utcnow()
    for offset in range(0, len(chosen), INSERT_BATCH):
        await session.execute(
            insert(CampaignRecipient),
            [
                {
                    "id": new_id("crcp"),
                    "org_id": campaign.org_id,
                    "campaign_id": campaign.id,
                    "contact_id": contact_id,
                    "status": RecipientStatus.QUEUED,
                    "created_at": now,
                    "updated_at": now,
                }
                for contact_id in chosen[offset : offset + INSERT_BATCH]
            ],
        )
    await session.flush()
    return len(chosen)
