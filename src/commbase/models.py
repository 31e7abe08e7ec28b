"""Imports every table, so ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from commbase.core import idempotency, jobs, leases, outbox
from commbase.core.db import Base
from commbase.identity import models as identity_models

__all__ = ["Base", "idempotency", "identity_models", "jobs", "leases", "outbox"]
