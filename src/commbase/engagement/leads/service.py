"""Leads: record, read, list, change, convert; score and priority kept current.

Follow-up statuses move pending -> contacted -> converted or lost; converted and
lost are final (a 409 after that). Each step records its event in the outbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.leads import events
from commbase.engagement.leads.enums import (
    OPEN,
    FollowUpStatus,
    LeadPriority,
    LeadSource,
    ScoreSource,
)
from commbase.engagement.leads.models import Lead
from commbase.engagement.leads.schemas import LeadConvert, LeadCreate, LeadIntake, LeadUpdate
from commbase.engagement.leads.scoring import LeadFacts, default_score, priority_for

# Fields the default rule reads: changing one rescores a lead the rule scored.
RULE_INPUTS = {"budget", "timeline", "interest", "phone", "email", "company"}
_STATUS_EVENTS = {
    FollowUpStatus.CONTACTED: events.LEAD_CONTACTED,
    FollowUpStatus.LOST: events.LEAD_LOST,
}


@dataclass(frozen=True)
class Thresholds:
    """Scores at or above which a lead is hot, or warm."""

    hot: int
    warm: int


def _payload(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "score": lead.score,
        "priority": lead.priority,
        "follow_up_status": lead.follow_up_status,
    }


def _rescore(lead: Lead, *, given: int | None, thresholds: Thresholds) -> None:
    if given is None:
        facts = LeadFacts(
            lead.budget, lead.timeline, lead.interest, lead.phone, lead.email, lead.company
        )
        lead.score, lead.score_source = default_score(facts), ScoreSource.RULE
    else:
        lead.score, lead.score_source = given, ScoreSource.GIVEN
    lead.priority = priority_for(lead.score, hot=thresholds.hot, warm=thresholds.warm)


async def create_lead(
    session: AsyncSession, *, org_id: str, data: LeadCreate, thresholds: Thresholds
) -> Lead:
    if data.contact_id is not None:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=data.contact_id)
    lead = Lead(
        org_id=org_id,
        **data.model_dump(exclude={"score"}),
        follow_up_status=FollowUpStatus.PENDING,
    )
    _rescore(lead, given=data.score, thresholds=thresholds)
    session.add(lead)
    await session.flush()
    await outbox.record(session, events.LEAD_CREATED, _payload(lead), org_id=org_id)
    return lead


async def create_from_intake(
    session: AsyncSession, *, org_id: str, data: LeadIntake, thresholds: Thresholds
) -> Lead:
    """A website visitor's enquiry as a lead (source ``web_form``, scored by the rule)."""
    return await create_lead(
        session,
        org_id=org_id,
        data=LeadCreate(
            name=data.name,
            email=data.email,
            phone=data.phone,
            company=data.company,
            interest=data.interest,
            budget=data.budget,
            timeline=data.timeline,
            notes=data.message,
            source=LeadSource.WEB_FORM,
        ),
        thresholds=thresholds,
    )


async def get_lead(session: AsyncSession, *, org_id: str, lead_id: str) -> Lead:
    lead = await session.scalar(select(Lead).where(Lead.org_id == org_id, Lead.id == lead_id))
    if lead is None:
        raise NotFound("Lead not found")
    return lead


async def list_leads(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    priority: LeadPriority | None = None,
    follow_up_status: FollowUpStatus | None = None,
    source: LeadSource | None = None,
    converted: bool | None = None,
    contact_id: str | None = None,
    min_score: int | None = None,
    follow_up_before: dt.datetime | None = None,
) -> tuple[Sequence[Lead], str | None]:
    """One page of leads, newest first, filtered."""
    statement = select(Lead).where(Lead.org_id == org_id)
    if priority is not None:
        statement = statement.where(Lead.priority == priority)
    if follow_up_status is not None:
        statement = statement.where(Lead.follow_up_status == follow_up_status)
    if source is not None:
        statement = statement.where(Lead.source == source)
    if converted is not None:
        statement = statement.where(Lead.converted.is_(converted))
    if contact_id is not None:
        statement = statement.where(Lead.contact_id == contact_id)
    if min_score is not None:
        statement = statement.where(Lead.score >= min_score)
    if follow_up_before is not None:
        statement = statement.where(Lead.follow_up_at < follow_up_before)
    return await paginate(session, statement, id_column=Lead.id, params=params)


def _check_open(lead: Lead) -> None:
    if lead.follow_up_status not in OPEN:
        raise Conflict(
            f"A {lead.follow_up_status} lead cannot change", current=lead.follow_up_status
        )


async def update_lead(
    session: AsyncSession, *, lead: Lead, changes: LeadUpdate, thresholds: Thresholds
) -> Lead:
    """Apply ``changes``; rescore; a new follow-up date is announced again when due."""
    _check_open(lead)
    data = changes.model_dump(exclude_unset=True)
    if data.get("contact_id") is not None:
        await contacts_service.get_contact(
            session, org_id=lead.org_id, contact_id=data["contact_id"]
        )
    if data.get("deal_value") is not None and (data.get("currency") or lead.currency) is None:
        raise invalid("deal_value needs a currency", "currency")
    score_given = "score" in data
    given = data.pop("score", None)
    status = data.pop("follow_up_status", None)
    if "follow_up_at" in data and data["follow_up_at"] != lead.follow_up_at:
        lead.follow_up_due_at = None
    for field, value in data.items():
        setattr(lead, field, value)
    if score_given:
        _rescore(lead, given=given, thresholds=thresholds)
    elif lead.score_source == ScoreSource.RULE and RULE_INPUTS & data.keys():
        _rescore(lead, given=None, thresholds=thresholds)
    if status is not None:
        lead.follow_up_status = status
    await session.flush()
    fields = sorted(changes.model_fields_set)
    await outbox.record(
        session, events.LEAD_UPDATED, {**_payload(lead), "fields": fields}, org_id=lead.org_id
    )
    status_event = _STATUS_EVENTS.get(status) if status is not None else None
    if status_event is not None:
        await outbox.record(session, status_event, _payload(lead), org_id=lead.org_id)
    return lead


async def convert(session: AsyncSession, *, lead: Lead, data: LeadConvert) -> Lead:
    """The lead became a customer, for ``deal_value`` when given."""
    _check_open(lead)
    lead.follow_up_status = FollowUpStatus.CONVERTED
    lead.converted = True
    lead.converted_at = utcnow()
    if data.deal_value is not None:
        lead.deal_value, lead.currency = data.deal_value, data.currency
    await session.flush()
    await outbox.record(
        session,
        events.LEAD_CONVERTED,
        {**_payload(lead), "deal_value": lead.deal_value, "currency": lead.currency},
        org_id=lead.org_id,
    )
    return lead
