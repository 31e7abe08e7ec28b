"""Lead metrics: new, hot and converted leads, conversion rate, pipeline value; and
seed 004's daily business fields (with bookings) as the ``business`` snapshot section.

A lead counts in the hour it was recorded; its priority and status can change
later, which moves ``updated_at``. Pipeline value is the deal value of leads
still open (pending or contacted); sales are the deal value of converted leads.
"""

from __future__ import annotations

from commbase.analytics.registry import (
    Source,
    count,
    ratio,
    register,
    register_section,
    total,
)
from commbase.engagement.bookings import metrics as _bookings_metrics  # noqa: F401  (bookings.*)
from commbase.engagement.leads.enums import OPEN, FollowUpStatus, LeadPriority
from commbase.engagement.leads.models import Lead

LEADS = Source(
    "leads",
    Lead.__table__,
    org=Lead.org_id,
    time=Lead.created_at,
    changed=Lead.updated_at,
    dimensions={
        "priority": Lead.priority,
        "source": Lead.source,
        "status": Lead.follow_up_status,
        "currency": Lead.currency,
    },
)

register(
    count("leads.new", LEADS, "Leads recorded"),
    count(
        "leads.hot",
        LEADS,
        "Leads recorded that are hot now",
        where=Lead.priority == LeadPriority.HOT,
    ),
    count(
        "leads.converted",
        LEADS,
        "Leads recorded that converted",
        where=Lead.follow_up_status == FollowUpStatus.CONVERTED,
    ),
    ratio(
        "leads.conversion_rate",
        "leads.converted",
        "leads.new",
        "Converted / recorded",
        percent=False,
    ),
    total(
        "leads.pipeline_value",
        LEADS,
        Lead.deal_value,
        "Deal value of open leads",
        where=Lead.follow_up_status.in_(OPEN),
        unit="minor",
    ),
    total(
        "leads.sales",
        LEADS,
        Lead.deal_value,
        "Deal value of converted leads",
        where=Lead.follow_up_status == FollowUpStatus.CONVERTED,
        unit="minor",
    ),
)
# Seed 004's daily analytics fields.
register_section(
    "business",
    {
        "bookingsMade": "bookings.made",
        "salesGenerated": "leads.converted",
        "totalRevenue": "bookings.revenue",
        "newLeads": "leads.new",
        "hotLeads": "leads.hot",
        "leadsConverted": "leads.converted",
        "conversionRate": "leads.conversion_rate",
    },
)
