"""Imports every table, so ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from commbase.analytics import models as analytics_models
from commbase.billing import models as billing_models
from commbase.calls import models as calls_models
from commbase.contacts import models as contacts_models
from commbase.core import idempotency, jobs, leases, outbox
from commbase.core.db import Base
from commbase.engagement.intake import models as intake_models
from commbase.identity import models as identity_models
from commbase.identity.publishable_keys import models as publishable_keys_models
from commbase.messaging import models as messaging_models
from commbase.privacy import models as privacy_models
from commbase.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "analytics_models",
    "billing_models",
    "calls_models",
    "contacts_models",
    "idempotency",
    "identity_models",
    "intake_models",
    "jobs",
    "leases",
    "messaging_models",
    "outbox",
    "privacy_models",
    "publishable_keys_models",
    "webhooks_models",
]
