"""A contact's part in campaigns: exported with the contact, deleted with it.

Erasing a contact deletes its recipient rows (its messages go with messaging's
eraser); a campaign keeps its counts (``recipients_total``), which name no one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.messaging.campaigns.models import CampaignRecipient
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(CampaignRecipient)
        .where(CampaignRecipient.org_id == org_id, CampaignRecipient.contact_id == subject_id)
        .order_by(CampaignRecipient.id)
    )
    return {"campaign_recipients": as_records(rows)}


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    deleted = await session.execute(
        delete(CampaignRecipient).where(
            CampaignRecipient.org_id == org_id, CampaignRecipient.contact_id == subject_id
        )
    )
    return {"campaign_recipients": rowcount(deleted)}


# Before contacts (order 500), which deletes the contact itself.
register_subject(
    "campaigns",
    "contact",
    tables={"campaign_recipients"},
    export=export_contact,
    erase=erase_contact,
    order=300,
)
