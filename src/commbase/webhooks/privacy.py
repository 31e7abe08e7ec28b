"""Webhook delivery payloads expire: after 90 days (per-organization override) a
delivery keeps its status and attempt log but no longer its body."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core.db import rowcount
from commbase.core.errors import NotFound
from commbase.core.literals import listed
from commbase.core.outbox import OutboxEvent
from commbase.identity import service as identity_service
from commbase.privacy.registry import (
    RetentionWindow,
    SubjectType,
    register_retention,
    register_subject,
)
from commbase.webhooks.enums import DeliveryStatus
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
        # The batch as one list parameter (``core.literals.listed``).
        await session.execute(
            update(WebhookDelivery)
            .where(listed(WebhookDelivery.id, "ids"))
            .values(payload=None, status=DeliveryStatus.FAILED, next_attempt_at=None)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            .execution_options(synchronize_session=False),
            {"ids": ids},
        )
        await session.execute(
            update(WebhookDelivery)
            .where(listed(WebhookDelivery.id, "ids"), WebhookDelivery.payload.is_not(None))
            .values(payload=None)
            .execution_options(synchronize_session=False),
            {"ids": ids},
        )
    return len(ids)


register_retention(
    "webhook_payloads",
    default_days=90,
    purge=purge_payloads,
    per_organization=True,  # purge_payloads selects through window.older_than
    description="Webhook delivery bodies (the delivery and its attempts stay)",
)


# ------------------------------------------------------------------ subjects
#
# Event payloads (the outbox's and each webhook delivery's copy) may name a
# person: a callee's number, a user's id. Export lists the events that mention
# the subject; erasure empties those payloads. Matching is on the payload's
# JSON text, which is what a person's id or number looks like inside it.


async def _needles(session: AsyncSession, *, org_id: str, subject: str, kind: str) -> list[str]:
    """What the subject looks like inside a payload: its id, email and phone number."""
    needles = [subject]
    try:
        if kind == "user":
            user = await identity_service.get_member_user(session, org_id=org_id, user_id=subject)
            needles += [user.email, user.phone or ""]
        else:
            contact = await contacts_service.get_contact(session, org_id=org_id, contact_id=subject)
            needles.append(contact.phone or "")
    except NotFound:
        pass  # nothing more to look for than the id
    return [n for n in needles if n]


def _mentions(column: Any, needles: list[str]) -> Any:
    text = cast(column, Text)
    return or_(*(text.contains(needle, autoescape=True) for needle in needles))


async def _export(
    session: AsyncSession, *, org_id: str, subject_id: str, kind: str
) -> dict[str, list[dict[str, Any]]]:
    needles = await _needles(session, org_id=org_id, subject=subject_id, kind=kind)
    rows = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, _mentions(OutboxEvent.payload, needles))
        .order_by(OutboxEvent.id)
    )
    return {
        "events": [
            {"id": e.id, "type": e.type, "created_at": e.created_at.isoformat(), "data": e.payload}
            for e in rows
        ]
    }


async def _erase(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str, kind: str
) -> dict[str, int]:
    needles = await _needles(session, org_id=org_id, subject=subject_id, kind=kind)
    events = await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, _mentions(OutboxEvent.payload, needles))
        .values(payload={"erased": True, "reference": reference})
        .execution_options(synchronize_session=False)
    )
    deliveries = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.org_id == org_id,
            WebhookDelivery.payload.is_not(None),
            _mentions(WebhookDelivery.payload, needles),
        )
        .values(payload=None)
        .execution_options(synchronize_session=False)
    )
    return {
        "outbox_events": rowcount(events),
        "webhook_deliveries": rowcount(deliveries),
    }


def _register(kind: SubjectType) -> None:
    async def export(
        session: AsyncSession, *, org_id: str, subject_id: str
    ) -> dict[str, list[dict[str, Any]]]:
        return await _export(session, org_id=org_id, subject_id=subject_id, kind=kind)

    async def erase(
        session: AsyncSession, *, org_id: str, subject_id: str, reference: str
    ) -> dict[str, int]:
        return await _erase(
            session, org_id=org_id, subject_id=subject_id, reference=reference, kind=kind
        )

    # Early: the user and contact rows it reads are anonymised by later erasers.
    register_subject(
        "webhooks",
        kind,
        tables={"outbox_events", "webhook_deliveries"},
        export=export,
        erase=erase,
        order=50,
    )


_register("user")
_register("contact")
