"""Billing API: wallets, top-ups, adjustments, the ledger and refunds, rates, the
revenue report, and the Stripe webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

# Registers the payment effects (automatic recharges, Stripe refunds) with the runner.
from commbase.billing import effects as _effects  # noqa: F401
from commbase.billing import payments, rates, refunds, reports, service
from commbase.billing.enums import LedgerCategory, LedgerStatus, LedgerType, OwnerType
from commbase.billing.models import LedgerEntry, Rate
from commbase.billing.schemas import (
    AdjustmentCreate,
    LedgerEntryRead,
    RateRead,
    RateSet,
    RefundCreate,
    RevenueReport,
    StripeWebhookResult,
    TopUpCreate,
    TopUpResult,
    WalletCreate,
    WalletRead,
    WalletUpdate,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.idempotency import request_key
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import Currency, PathId

router = APIRouter(prefix="/v1", tags=["billing"])


@router.post("/wallets", response_model=WalletRead, status_code=status.HTTP_201_CREATED)
async def create_wallet(
    body: WalletCreate, principal: CurrentPrincipal, session: DbSession
) -> WalletRead:
    """A wallet opened with test credentials (``cb_test_``) is a test wallet: its card
    payments go to the payment provider's sandbox."""
    principal.require(Scope.WALLET_WRITE)
    return WalletRead.of(await service.open_wallet(session, principal=principal, data=body))


@router.get("/wallets", response_model=Page[WalletRead])
async def list_wallets(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    owner_type: Annotated[OwnerType | None, Query()] = None,
    owner_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[WalletRead]:
    principal.require(Scope.WALLET_READ)
    rows, cursor = await service.list_wallets(
        session, principal=principal, params=page, owner_type=owner_type, owner_id=owner_id
    )
    return Page(data=[WalletRead.of(w) for w in rows], next_cursor=cursor)


@router.get("/wallets/{wallet_id}", response_model=WalletRead)
async def get_wallet(
    wallet_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WalletRead:
    principal.require(Scope.WALLET_READ)
    return WalletRead.of(
        await service.visible_wallet(session, principal=principal, wallet_id=wallet_id)
    )


@router.patch("/wallets/{wallet_id}", response_model=WalletRead)
async def update_wallet(
    wallet_id: PathId, body: WalletUpdate, principal: CurrentPrincipal, session: DbSession
) -> WalletRead:
    principal.require(Scope.WALLET_WRITE)
    wallet = await service.visible_wallet(session, principal=principal, wallet_id=wallet_id)
    return WalletRead.of(await service.update_wallet(session, wallet=wallet, changes=body))


@router.post(
    "/wallets/{wallet_id}/topups", response_model=TopUpResult, status_code=status.HTTP_201_CREATED
)
async def top_up(
    wallet_id: PathId,
    body: TopUpCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> TopUpResult:
    """Manual top-ups credit at once (admins); Stripe top-ups return a PaymentIntent,
    PayPal ones an order to approve (``approval_url``), Cashfree ones an order to pay
    (``payment_session_id``), each with a pending entry that completes when the
    provider's verified webhook reports the payment.
    The ``Idempotency-Key`` is stored on the entry: the same key gives the same one."""
    principal.require(Scope.WALLET_WRITE)
    wallet = await service.visible_wallet(session, principal=principal, wallet_id=wallet_id)
    return await payments.top_up(
        session,
        settings=settings,
        principal=principal,
        wallet=wallet,
        data=body,
        idempotency_key=request_key(request),
        services=request.app.state.job_services,
    )


@router.post(
    "/wallets/{wallet_id}/adjustments",
    response_model=LedgerEntryRead,
    status_code=status.HTTP_201_CREATED,
)
async def adjust_wallet(
    wallet_id: PathId, body: AdjustmentCreate, principal: CurrentPrincipal, session: DbSession
) -> LedgerEntry:
    principal.require(Scope.WALLET_WRITE, Scope.BILLING_WRITE)
    wallet = await service.visible_wallet(session, principal=principal, wallet_id=wallet_id)
    return await payments.adjust(
        session,
        wallet=wallet,
        amount=body.amount,
        reason=body.reason,
        actor_id=principal.actor_id,
    )


@router.get("/wallets/{wallet_id}/transactions", response_model=Page[LedgerEntryRead])
async def list_wallet_transactions(
    wallet_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    type_: Annotated[LedgerType | None, Query(alias="type")] = None,
    status_: Annotated[LedgerStatus | None, Query(alias="status")] = None,
) -> Page[LedgerEntryRead]:
    principal.require(Scope.WALLET_READ)
    wallet = await service.visible_wallet(session, principal=principal, wallet_id=wallet_id)
    rows, cursor = await service.list_entries(
        session,
        org_id=principal.org_id,
        params=page,
        wallet_id=wallet.id,
        type_=type_,
        status=status_,
    )
    return Page(data=[LedgerEntryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/transactions", response_model=Page[LedgerEntryRead])
async def list_transactions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    type_: Annotated[LedgerType | None, Query(alias="type")] = None,
    category: Annotated[LedgerCategory | None, Query()] = None,
    status_: Annotated[LedgerStatus | None, Query(alias="status")] = None,
    call_id: Annotated[str | None, Query(max_length=40)] = None,
    refund_of: Annotated[
        str | None, Query(max_length=40, description="The refunds of this entry")
    ] = None,
) -> Page[LedgerEntryRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_entries(
        session,
        org_id=principal.org_id,
        params=page,
        type_=type_,
        category=category,
        status=status_,
        related_call_id=call_id,
        refund_of=refund_of,
    )
    return Page(data=[LedgerEntryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/transactions/{transaction_id}", response_model=LedgerEntryRead)
async def get_transaction(
    transaction_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> LedgerEntry:
    principal.require(Scope.BILLING_READ)
    return await service.get_entry(session, org_id=principal.org_id, entry_id=transaction_id)


@router.post(
    "/transactions/{transaction_id}/refunds",
    response_model=LedgerEntryRead,
    status_code=status.HTTP_201_CREATED,
)
async def refund_transaction(
    transaction_id: PathId,
    body: RefundCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> LedgerEntry:
    """Refund a call charge (money and package minutes back to the wallet) or a top-up
    (taken back from the wallet; a Stripe payment is refunded to the card, pending
    until Stripe confirms). Never more than the original, counting earlier refunds."""
    principal.require(Scope.WALLET_WRITE, Scope.BILLING_WRITE)
    return await refunds.refund(
        session,
        principal=principal,
        entry_id=transaction_id,
        data=body,
        idempotency_key=request_key(request),
    )


# ------------------------------------------------------------------------ rates


@router.get("/rates", response_model=Page[RateRead])
async def list_rates(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Page[RateRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await rates.list_rates(session, org_id=principal.org_id, params=page)
    return Page(data=[RateRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.put("/rates", response_model=RateRead)
async def set_rate(body: RateSet, principal: CurrentPrincipal, session: DbSession) -> Rate:
    """Create or replace the per-minute rate for a country and line type (null: any),
    in its currency; calls paid from a wallet in another currency are refused."""
    principal.require(Scope.BILLING_WRITE)
    return await rates.set_rate(
        session,
        org_id=principal.org_id,
        country=body.country,
        line_type=body.line_type,
        per_minute=body.per_minute,
        currency=body.currency,
        direction=body.direction,
    )


@router.delete("/rates/{rate_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rate(rate_id: PathId, principal: CurrentPrincipal, session: DbSession) -> None:
    principal.require(Scope.BILLING_WRITE)
    await rates.delete_rate(session, org_id=principal.org_id, rate_id=rate_id)


# ---------------------------------------------------------------------- reports


@router.get("/reports/revenue", response_model=RevenueReport)
async def revenue_report(
    principal: CurrentPrincipal,
    session: DbSession,
    month: Annotated[
        str | None, Query(max_length=7, description="YYYY-MM, default this month")
    ] = None,
    currency: Annotated[
        Currency | None, Query(description="Needed when the month has several currencies")
    ] = None,
) -> RevenueReport:
    principal.require(Scope.BILLING_READ)
    return await reports.revenue_by_day(
        session, org_id=principal.org_id, month=month, currency=currency
    )


# ----------------------------------------------------------------- stripe hook


@router.post(
    "/providers/stripe/webhook",
    tags=["providers"],
    summary="Stripe events, verified with the endpoint's signing secret",
    response_model=StripeWebhookResult,
)
async def stripe_webhook(
    request: Request, session: DbSession, settings: AppSettings
) -> StripeWebhookResult:
    event = payments.verify_stripe_event(
        payload=await request.body(),
        signature=request.headers.get("stripe-signature"),
        settings=settings,
    )
    outcome = await payments.apply_stripe_event(session, event=event)
    return StripeWebhookResult(received="true", outcome=outcome)
