"""Customers: a contact, a member or another organization that consented to be billed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.customers.schemas import CustomerCreate, CustomerUpdate
from commbase.contacts import service as contacts_service
from commbase.core.errors import AlreadyExists, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.identity import service as identity_service

BILLED_BY = "billed_by"  # the organization setting naming who may bill it


async def _check_reference(session: AsyncSession, *, org_id: str, data: CustomerCreate) -> None:
    """404 unless the reference is the seller's contact or member, or an organization
    that named the seller in ``settings.billed_by`` (others are not even detectable)."""
    if data.kind == CustomerKind.CONTACT:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=data.reference_id)
    elif data.kind == CustomerKind.USER:
        await identity_service.get_member_user(session, org_id=org_id, user_id=data.reference_id)
    else:
        try:
            other = await identity_service.get_organization(session, org_id=data.reference_id)
        except NotFound:
            other = None
        if other is None or other.id == org_id or (other.settings or {}).get(BILLED_BY) != org_id:
            raise NotFound("Organization not found")


def _values(data: CustomerCreate | CustomerUpdate, *, unset: bool) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=unset, exclude={"kind", "reference_id"})
    if "address" in values:
        values["address"] = values["address"] or {}
    return values


async def create_customer(session: AsyncSession, *, org_id: str, data: CustomerCreate) -> Customer:
    await _check_reference(session, org_id=org_id, data=data)
    customer = Customer(
        org_id=org_id,
        kind=data.kind,
        reference_id=data.reference_id,
        **_values(data, unset=False),
    )
    try:
        async with session.begin_nested():
            session.add(customer)
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"This {data.kind} is already a customer") from exc
    return customer


async def get_customer(session: AsyncSession, *, org_id: str, customer_id: str) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.org_id == org_id, Customer.id == customer_id)
    )
    if customer is None:
        raise NotFound("Customer not found")
    return customer


async def list_customers(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    kind: str | None = None,
    reference_id: str | None = None,
) -> tuple[Sequence[Customer], str | None]:
    statement = select(Customer).where(Customer.org_id == org_id)
    if kind:
        statement = statement.where(Customer.kind == kind)
    if reference_id:
        statement = statement.where(Customer.reference_id == reference_id)
    return await paginate(session, statement, id_column=Customer.id, params=params)


async def update_customer(
    session: AsyncSession, *, customer: Customer, changes: CustomerUpdate
) -> Customer:
    for field, value in _values(changes, unset=True).items():
        setattr(customer, field, value)
    await session.flush()
    return customer
