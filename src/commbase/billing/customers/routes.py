"""Customer API under ``/v1/billing/customers``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from commbase.billing.customers import service
from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.customers.schemas import CustomerCreate, CustomerRead, CustomerUpdate
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/billing/customers", tags=["billing customers"])


@router.post("", response_model=CustomerRead, status_code=status.HTTP_201_CREATED)
async def create_customer(
    body: CustomerCreate, principal: CurrentPrincipal, session: DbSession
) -> Customer:
    """A contact or member of yours, or an organization whose ``settings.billed_by``
    names yours (its entitlements then apply to it)."""
    principal.require(Scope.BILLING_WRITE)
    return await service.create_customer(session, org_id=principal.org_id, data=body)


@router.get("", response_model=Page[CustomerRead])
async def list_customers(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    kind: Annotated[CustomerKind | None, Query()] = None,
    reference_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[CustomerRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_customers(
        session, org_id=principal.org_id, params=page, kind=kind, reference_id=reference_id
    )
    return Page(data=[CustomerRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{customer_id}", response_model=CustomerRead)
async def get_customer(
    customer_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Customer:
    principal.require(Scope.BILLING_READ)
    return await service.get_customer(session, org_id=principal.org_id, customer_id=customer_id)


@router.patch("/{customer_id}", response_model=CustomerRead)
async def update_customer(
    customer_id: PathId, body: CustomerUpdate, principal: CurrentPrincipal, session: DbSession
) -> Customer:
    principal.require(Scope.BILLING_WRITE)
    customer = await service.get_customer(session, org_id=principal.org_id, customer_id=customer_id)
    return await service.update_customer(session, customer=customer, changes=body)
