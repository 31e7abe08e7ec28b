"""Customers in GDPR requests: a user's or a contact's billing details.

Export: the customer records that name the subject. Erasure: their name, email,
billing address and tax id are blanked; the customer row stays (subscriptions and
invoices, money records, point at it) and now names the erasure's reference.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.core.db import rowcount
from commbase.privacy.records import as_records
from commbase.privacy.registry import SubjectType, register_subject


def _handlers(kind: CustomerKind) -> tuple[Any, Any]:
    async def export(
        session: AsyncSession, *, org_id: str, subject_id: str
    ) -> dict[str, list[dict[str, Any]]]:
        rows = await session.scalars(
            select(Customer).where(
                Customer.org_id == org_id,
                Customer.kind == kind,
                Customer.reference_id == subject_id,
            )
        )
        return {"billing_customers": as_records(rows)}

    async def erase(
        session: AsyncSession, *, org_id: str, subject_id: str, reference: str
    ) -> dict[str, int]:
        result = await session.execute(
            update(Customer)
            .where(
                Customer.org_id == org_id,
                Customer.kind == kind,
                Customer.reference_id == subject_id,
            )
            .values(name=None, email=None, address={}, tax_id=None, reference_id=reference[:40])
            .execution_options(synchronize_session=False)
        )
        return {"billing_customers": rowcount(result)}

    return export, erase


_SUBJECTS: tuple[tuple[SubjectType, CustomerKind], ...] = (
    ("user", CustomerKind.USER),
    ("contact", CustomerKind.CONTACT),
)
for _subject, _kind in _SUBJECTS:
    _export, _erase = _handlers(_kind)
    register_subject(
        "billing_customers", _subject, tables={"billing_customers"}, export=_export, erase=_erase
    )
