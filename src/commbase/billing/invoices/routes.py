"""Invoice API under ``/v1/billing/invoices``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from commbase.billing.customers import service as customers_service
from commbase.billing.invoices import payments, service
from commbase.billing.invoices.enums import InvoiceStatus
from commbase.billing.invoices.schemas import (
    InvoiceCreate,
    InvoiceFinalize,
    InvoiceRead,
    InvoiceSummary,
    PaymentCreate,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.errors import NotFound, invalid
from commbase.core.idempotency import request_key
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/billing/invoices", tags=["billing invoices"])


@router.post("", response_model=InvoiceRead, status_code=status.HTTP_201_CREATED)
async def create_invoice(
    body: InvoiceCreate, principal: CurrentPrincipal, session: DbSession
) -> InvoiceRead:
    principal.require(Scope.BILLING_WRITE)
    try:
        customer = await customers_service.get_customer(
            session, org_id=principal.org_id, customer_id=body.customer_id
        )
    except NotFound as exc:
        raise invalid("No such customer", "customer_id") from exc
    invoice = await service.create_one_off(
        session,
        customer=customer,
        currency=body.currency,
        items=[(line.description, line.unit_amount, line.quantity) for line in body.lines],
        memo=body.memo,
        finalize_now=body.finalize,
        days_until_due=body.days_until_due,
    )
    return await service.read_invoice(session, invoice=invoice)


@router.get("", response_model=Page[InvoiceSummary])
async def list_invoices(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    customer_id: Annotated[str | None, Query(max_length=40)] = None,
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    status_: Annotated[InvoiceStatus | None, Query(alias="status")] = None,
    overdue: Annotated[
        bool | None, Query(description="true: open invoices past their due date")
    ] = None,
) -> Page[InvoiceSummary]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_invoices(
        session,
        org_id=principal.org_id,
        params=page,
        customer_id=customer_id,
        subscription_id=subscription_id,
        status=status_,
        overdue=overdue,
    )
    return Page(data=[InvoiceSummary.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{invoice_id}", response_model=InvoiceRead)
async def get_invoice(
    invoice_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> InvoiceRead:
    principal.require(Scope.BILLING_READ)
    invoice = await service.get_invoice(session, org_id=principal.org_id, invoice_id=invoice_id)
    return await service.read_invoice(session, invoice=invoice)


@router.post("/{invoice_id}/finalize", response_model=InvoiceRead)
async def finalize_invoice(
    invoice_id: PathId, body: InvoiceFinalize, principal: CurrentPrincipal, session: DbSession
) -> InvoiceRead:
    """Give a draft the organization's next number and open it for payment."""
    principal.require(Scope.BILLING_WRITE)
    invoice = await service.get_invoice(
        session, org_id=principal.org_id, invoice_id=invoice_id, for_update=True
    )
    await service.finalize(session, invoice=invoice, days_until_due=body.days_until_due)
    return await service.read_invoice(session, invoice=invoice)


@router.post("/{invoice_id}/payments", response_model=InvoiceRead)
async def pay_invoice(
    invoice_id: PathId,
    body: PaymentCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> InvoiceRead:
    """Record money received by hand (``manual``): never more than is due; posted once to
    the ledger (the organization's revenue wallet); ``paid`` when nothing is left due.
    The ``Idempotency-Key`` is stored on the payment: a retry pays nothing twice."""
    principal.require(Scope.BILLING_WRITE)
    invoice = await payments.pay(
        session,
        org_id=principal.org_id,
        invoice_id=invoice_id,
        amount=body.amount,
        reference=body.reference,
        idempotency_key=request_key(request),
    )
    return await service.read_invoice(session, invoice=invoice)


@router.post("/{invoice_id}/void", response_model=InvoiceRead)
async def void_invoice(
    invoice_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> InvoiceRead:
    principal.require(Scope.BILLING_WRITE)
    invoice = await service.get_invoice(
        session, org_id=principal.org_id, invoice_id=invoice_id, for_update=True
    )
    await service.void(session, invoice=invoice)
    return await service.read_invoice(session, invoice=invoice)


@router.post("/{invoice_id}/mark-uncollectible", response_model=InvoiceRead)
async def mark_uncollectible(
    invoice_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> InvoiceRead:
    principal.require(Scope.BILLING_WRITE)
    invoice = await service.get_invoice(
        session, org_id=principal.org_id, invoice_id=invoice_id, for_update=True
    )
    await service.mark_uncollectible(session, invoice=invoice)
    return await service.read_invoice(session, invoice=invoice)
