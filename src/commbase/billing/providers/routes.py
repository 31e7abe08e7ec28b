"""Payments through providers: checkouts of invoices, payments and their refunds,
plans' dunning schedules, and the PayPal and Cashfree webhooks (Stripe's is
``/v1/providers/stripe/webhook``, shared with wallet top-ups)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from commbase.billing.catalog import service as catalog
from commbase.billing.invoices.enums import InvoicePaymentStatus
from commbase.billing.providers import effects as _effects  # noqa: F401  (registers them)
from commbase.billing.providers import jobs as _jobs  # noqa: F401  (registers them)
from commbase.billing.providers import refunds, registry, service
from commbase.billing.providers.enums import ProviderName
from commbase.billing.providers.schemas import (
    CheckoutCreate,
    CheckoutRead,
    DunningRead,
    DunningSet,
    PaymentRead,
    RefundCreate,
    RefundRead,
    WebhookResult,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.idempotency import request_key
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(tags=["billing payments"])


@router.post(
    "/v1/billing/invoices/{invoice_id}/checkout",
    response_model=CheckoutRead,
    status_code=status.HTTP_201_CREATED,
)
async def checkout_invoice(
    invoice_id: PathId,
    body: CheckoutCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> CheckoutRead:
    """A pending payment of the invoice at a provider, for the customer to complete;
    it succeeds once the provider's signed webhook says so (the simulator: at once).
    A declined payment is answered with status ``failed``."""
    principal.require(Scope.BILLING_WRITE)
    payment, answer = await service.start_checkout(
        session,
        services=request.app.state.job_services,
        org_id=principal.org_id,
        invoice_id=invoice_id,
        data=body,
        idempotency_key=request_key(request),
    )
    return CheckoutRead(
        payment=PaymentRead.model_validate(payment),
        client_secret=answer.client_secret if answer else None,
        approval_url=answer.approval_url if answer else None,
        payment_session_id=answer.payment_session_id if answer else None,
    )


@router.get("/v1/billing/payments", response_model=Page[PaymentRead])
async def list_payments(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    invoice_id: Annotated[str | None, Query(max_length=40)] = None,
    status_: Annotated[InvoicePaymentStatus | None, Query(alias="status")] = None,
) -> Page[PaymentRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_payments(
        session, org_id=principal.org_id, params=page, invoice_id=invoice_id, status=status_
    )
    return Page(data=[PaymentRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/v1/billing/payments/{payment_id}", response_model=PaymentRead)
async def get_payment(
    payment_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> PaymentRead:
    principal.require(Scope.BILLING_READ)
    payment = await service.get_payment(session, org_id=principal.org_id, payment_id=payment_id)
    return PaymentRead.model_validate(payment)


@router.get("/v1/billing/payments/{payment_id}/refunds", response_model=list[RefundRead])
async def list_refunds(
    payment_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> list[RefundRead]:
    principal.require(Scope.BILLING_READ)
    await service.get_payment(session, org_id=principal.org_id, payment_id=payment_id)
    rows = await refunds.list_refunds(session, org_id=principal.org_id, payment_id=payment_id)
    return [RefundRead.model_validate(r) for r in rows]


@router.post(
    "/v1/billing/payments/{payment_id}/refunds",
    response_model=RefundRead,
    status_code=status.HTTP_201_CREATED,
)
async def refund_payment(
    payment_id: PathId,
    body: RefundCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> RefundRead:
    """Give (part of) a succeeded payment back: never more than is left of it; the same
    Idempotency-Key gives the same refund. Provider refunds stay pending until the
    provider is asked, after commit."""
    principal.require(Scope.BILLING_WRITE)
    refund = await refunds.refund_payment(
        session,
        org_id=principal.org_id,
        payment_id=payment_id,
        data=body,
        idempotency_key=request_key(request),
    )
    return RefundRead.model_validate(refund)


@router.get("/v1/billing/plans/{plan_id}/dunning", response_model=DunningRead)
async def get_dunning(
    plan_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> DunningRead:
    principal.require(Scope.BILLING_READ)
    plan = await catalog.get_plan(session, org_id=principal.org_id, plan_id=plan_id)
    return DunningRead(
        plan_id=plan.id, retry_days=plan.dunning_retry_days, final_action=plan.dunning_action
    )


@router.put("/v1/billing/plans/{plan_id}/dunning", response_model=DunningRead)
async def set_dunning(
    plan_id: PathId, body: DunningSet, principal: CurrentPrincipal, session: DbSession
) -> DunningRead:
    """The plan's retry days after a failed renewal charge, then cancel or pause."""
    principal.require(Scope.BILLING_WRITE)
    plan = await catalog.get_plan(session, org_id=principal.org_id, plan_id=plan_id)
    plan.dunning_retry_days = list(body.retry_days)
    plan.dunning_action = body.final_action
    await session.flush()
    return DunningRead(
        plan_id=plan.id, retry_days=plan.dunning_retry_days, final_action=plan.dunning_action
    )


async def _webhook(request: Request, session: DbSession, provider: ProviderName) -> WebhookResult:
    gateway = registry.gateway(provider, services=request.app.state.job_services)
    event = await gateway.verify_webhook(headers=request.headers, body=await request.body())
    if event.details.get("approved") and event.provider_payment_id:
        # PayPal: the payer approved the order; capture it (once: the request id is
        # derived from the order), then record what the capture says.
        from commbase.billing.providers.paypal import PayPalGateway

        assert isinstance(gateway, PayPalGateway)
        captured = await service.capture_approved(session, gateway=gateway, event=event)
        return WebhookResult(outcome=captured)
    return WebhookResult(outcome=await service.apply_event(session, provider=provider, event=event))


@router.post(
    "/v1/providers/paypal/webhook",
    tags=["providers"],
    response_model=WebhookResult,
    summary="PayPal events, verified by PayPal's verify-webhook-signature API",
)
async def paypal_webhook(request: Request, session: DbSession) -> WebhookResult:
    return await _webhook(request, session, ProviderName.PAYPAL)


@router.post(
    "/v1/providers/cashfree/webhook",
    tags=["providers"],
    response_model=WebhookResult,
    summary="Cashfree events, verified offline (HMAC-SHA256 of timestamp and body)",
)
async def cashfree_webhook(request: Request, session: DbSession) -> WebhookResult:
    return await _webhook(request, session, ProviderName.CASHFREE)
