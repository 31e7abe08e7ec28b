"""Every module that declares metrics, imported for that side effect.

A new domain adds its ``metrics.py`` here (see :mod:`commbase.analytics.registry`).
"""

from __future__ import annotations

from commbase.analytics import api_metrics
from commbase.billing import metrics as billing_metrics
from commbase.billing.invoices import metrics as billing_invoices_metrics
from commbase.billing.revenue import metrics as billing_revenue_metrics
from commbase.calls import metrics as calls_metrics
from commbase.contacts import metrics as contacts_metrics
from commbase.engagement.bookings import metrics as bookings_metrics
from commbase.engagement.careers import metrics as careers_metrics
from commbase.engagement.consultations import metrics as consultations_metrics
from commbase.engagement.lab import metrics as lab_metrics
from commbase.engagement.leads import metrics as leads_metrics
from commbase.engagement.suggestions import metrics as suggestions_metrics
from commbase.engagement.support import metrics as support_metrics
from commbase.engagement.webinars import metrics as webinars_metrics
from commbase.identity import metrics as identity_metrics
from commbase.messaging import metrics as messaging_metrics
from commbase.tracking import metrics as tracking_metrics

__all__ = [
    "api_metrics",
    "billing_invoices_metrics",
    "billing_metrics",
    "billing_revenue_metrics",
    "bookings_metrics",
    "calls_metrics",
    "careers_metrics",
    "consultations_metrics",
    "contacts_metrics",
    "identity_metrics",
    "lab_metrics",
    "leads_metrics",
    "messaging_metrics",
    "suggestions_metrics",
    "support_metrics",
    "tracking_metrics",
    "webinars_metrics",
]
