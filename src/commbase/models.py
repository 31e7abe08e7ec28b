"""Imports every table, so ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from commbase.analytics import models as analytics_models
from commbase.billing import models as billing_models
from commbase.billing.catalog import models as billing_catalog_models
from commbase.billing.customers import models as billing_customers_models
from commbase.billing.invoices import models as billing_invoices_models
from commbase.billing.licenses import models as billing_licenses_models
from commbase.billing.providers import models as billing_providers_models
from commbase.billing.revenue import models as billing_revenue_models
from commbase.billing.subscriptions import models as billing_subscriptions_models
from commbase.calls import models as calls_models
from commbase.calls.phone_numbers import models as phone_numbers_models
from commbase.calls.recordings import models as call_recordings_models
from commbase.calls.video import models as video_models
from commbase.contacts import models as contacts_models
from commbase.core import idempotency, jobs, leases, outbox
from commbase.core.db import Base
from commbase.engagement.bookings import models as bookings_models
from commbase.engagement.careers import models as careers_models
from commbase.engagement.comments import models as comments_models
from commbase.engagement.consultations import models as consultations_models
from commbase.engagement.favorites import models as favorites_models
from commbase.engagement.intake import models as intake_models
from commbase.engagement.lab import models as lab_models
from commbase.engagement.leads import models as leads_models
from commbase.engagement.personalizations import models as personalizations_models
from commbase.engagement.suggestions import models as suggestions_models
from commbase.engagement.support import models as support_models
from commbase.engagement.webinars import models as webinars_models
from commbase.identity import models as identity_models
from commbase.identity.accounts import models as accounts_models
from commbase.identity.external import models as external_identity_models
from commbase.identity.publishable_keys import models as publishable_keys_models
from commbase.identity.two_factor import models as two_factor_models
from commbase.messaging import models as messaging_models
from commbase.messaging.campaigns import models as campaigns_models
from commbase.privacy import models as privacy_models
from commbase.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "accounts_models",
    "analytics_models",
    "billing_catalog_models",
    "billing_customers_models",
    "billing_invoices_models",
    "billing_licenses_models",
    "billing_models",
    "billing_providers_models",
    "billing_revenue_models",
    "billing_subscriptions_models",
    "bookings_models",
    "call_recordings_models",
    "calls_models",
    "campaigns_models",
    "careers_models",
    "comments_models",
    "consultations_models",
    "contacts_models",
    "external_identity_models",
    "favorites_models",
    "idempotency",
    "identity_models",
    "intake_models",
    "jobs",
    "lab_models",
    "leads_models",
    "leases",
    "messaging_models",
    "outbox",
    "personalizations_models",
    "phone_numbers_models",
    "privacy_models",
    "publishable_keys_models",
    "suggestions_models",
    "support_models",
    "two_factor_models",
    "video_models",
    "webhooks_models",
    "webinars_models",
]
