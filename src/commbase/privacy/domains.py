"""Every module that registers a domain's part in privacy, imported for that side effect.

A domain that stores personal data (a column marked ``info=PERSONAL``) or data
that expires adds its privacy module here; ``tests/privacy/test_coverage.py``
fails while a personal table is covered by no registration.
"""

from __future__ import annotations

from commbase.analytics import api_outcomes
from commbase.billing import privacy as billing_privacy
from commbase.billing.customers import privacy as billing_customers_privacy
from commbase.calls import privacy as calls_privacy
from commbase.calls.recordings import privacy as call_recordings_privacy
from commbase.calls.video import privacy as video_privacy
from commbase.contacts import privacy as contacts_privacy
from commbase.engagement.bookings import privacy as bookings_privacy
from commbase.engagement.careers import privacy as careers_privacy
from commbase.engagement.comments import privacy as comments_privacy
from commbase.engagement.consultations import privacy as consultations_privacy
from commbase.engagement.favorites import privacy as favorites_privacy
from commbase.engagement.leads import privacy as leads_privacy
from commbase.engagement.personalizations import privacy as personalizations_privacy
from commbase.engagement.suggestions import privacy as suggestions_privacy
from commbase.engagement.support import privacy as support_privacy
from commbase.engagement.webinars import privacy as webinars_privacy
from commbase.identity import privacy as identity_privacy
from commbase.messaging import privacy as messaging_privacy
from commbase.messaging.campaigns import privacy as campaigns_privacy
from commbase.privacy import kinds as privacy_kinds
from commbase.tracking import privacy as analytics_privacy
from commbase.webhooks import privacy as webhooks_privacy

__all__ = [
    "analytics_privacy",
    "api_outcomes",
    "billing_customers_privacy",
    "billing_privacy",
    "bookings_privacy",
    "call_recordings_privacy",
    "calls_privacy",
    "campaigns_privacy",
    "careers_privacy",
    "comments_privacy",
    "consultations_privacy",
    "contacts_privacy",
    "favorites_privacy",
    "identity_privacy",
    "leads_privacy",
    "messaging_privacy",
    "personalizations_privacy",
    "privacy_kinds",
    "suggestions_privacy",
    "support_privacy",
    "video_privacy",
    "webhooks_privacy",
    "webinars_privacy",
]
