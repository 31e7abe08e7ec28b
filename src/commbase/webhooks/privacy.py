"""Webhook delivery payloads expire: after 90 days (per-organization override) a
delivery keeps its status and attempt log but no longer its body."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.privacy.registry import RetentionWindow, register_retention
from commbase.webhooks.models import WebhookDelivery


async def purge_payloads(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    """Empty up to ``limit`` payloads older than their organization's cutoff."""
    ids = list(
        await session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.payload.is_not(None),
                WebhookDelivery.claimed_by.is_(None),
                window.older_than(WebhookDelivery.org_id, WebhookDelivery.created_at),
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )
    if ids:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(payload=None, status="failed", next_attempt_at=None)
            .where(WebhookDelivery.status == "pending")
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.payload.is_not(None))
            .values(payload=None)
            .execution_options(synchronize_session=False)
        )
    return len(ids)


register_retention(
    "webhook_payloads",
    default_days=90,
    purge=purge_payloads,
    description="Webhook delivery bodies (the delivery and its attempts stay)",
)
