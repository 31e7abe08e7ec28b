"""Billing API: wallets, top-ups, adjustments, the ledger, rates, revenue report,
and the Stripe webhook."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status

from commbase.billing import payments, rates, reports, service
from commbase.billing.models import Wallet
from commbase.billing.schemas import (
    AdjustmentCreate,
    LedgerEntryRead,
    RateRead,
    RateSet,
    RevenueReport,
    TopUpCreate,
    TopUpResult,
    WalletCreate,
    WalletRead,
    WalletUpdate,
)
from commbase.core.auth import CurrentPrincipal, Principal, PrincipalKind
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import NotFound, ServiceUnavailable, ValidationFailed
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.identity.agent_sessions import service as agent_sessions

router = APIRouter(prefix="/v1", tags=["billing"])
Id = Annotated[str, Path(max_length=40)]
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _visible(principal: Principal, wallet: Wallet) -> Wallet:
    """Agent sessions see only their own wallet; others see the organization's."""
    if principal.kind == PrincipalKind.AGENT_SESSION and not (
        wallet.owner_type == "agent_session" and wallet.owner_id == principal.credential_id
    ):
        raise NotFound("Wallet not found")
    return wallet


async def _wallet(session: DbSession, principal: Principal, wallet_id: str) -> Wallet:
    wallet = await service.get_wallet(session, org_id=principal.org_id, wallet_id=wallet_id)
    return _visible(principal, wallet)


@router.post("/wallets", response_model=WalletRead, status_code=status.HTTP_201_CREATED)
async def create_wallet(
    body: WalletCreate, principal: CurrentPrincipal, session: DbSession
) -> WalletRead:
    principal.require(Scope.WALLET_WRITE)
    owner_id = body.owner_id
    if body.owner_type == "organization":
        owner_id = principal.org_id
    elif owner_id is None:
        raise ValidationFailed(
            "owner_id is required for user and agent_session wallets",
            errors=[{"loc": ["body", "owner_id"], "field": "owner_id", "message": "required"}],
        )
    elif body.owner_type == "user":
        await identity_service.get_member_user(session, org_id=principal.org_id, user_id=owner_id)
    else:
        await agent_sessions.get_session(session, org_id=principal.org_id, session_id=owner_id)
    settings = body.model_dump(exclude={"owner_type", "owner_id", "currency"})
    wallet = await service.create_wallet(
        session,
        org_id=principal.org_id,
        owner_type=body.owner_type,
        owner_id=owner_id,
        currency=body.currency,
        settings=settings,
    )
    return WalletRead.of(wallet)


@router.get("/wallets", response_model=Page[WalletRead])
async def list_wallets(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    owner_type: Annotated[Literal["organization", "user", "agent_session"] | None, Query()] = None,
    owner_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    principal.require(Scope.WALLET_READ)
    if principal.kind == PrincipalKind.AGENT_SESSION:
        owner_type, owner_id = "agent_session", principal.credential_id
    rows, cursor = await service.list_wallets(
        session, org_id=principal.org_id, params=page, owner_type=owner_type, owner_id=owner_id
    )
    return Page(data=[WalletRead.of(w) for w in rows], next_cursor=cursor)


@router.get("/wallets/{wallet_id}", response_model=WalletRead)
async def get_wallet(wallet_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.WALLET_READ)
    return WalletRead.of(await _wallet(session, principal, wallet_id))


@router.patch("/wallets/{wallet_id}", response_model=WalletRead)
async def update_wallet(
    wallet_id: Id, body: WalletUpdate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.WALLET_WRITE)
    wallet = await _wallet(session, principal, wallet_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(wallet, field, value)
    await session.flush()
    return WalletRead.of(wallet)


@router.post(
    "/wallets/{wallet_id}/topups", response_model=TopUpResult, status_code=status.HTTP_201_CREATED
)
async def top_up(
    wallet_id: Id,
    body: TopUpCreate,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> TopUpResult:
    """Manual top-ups credit at once (admins); Stripe top-ups return a PaymentIntent
    and credit when Stripe's webhook reports success."""
    principal.require(Scope.WALLET_WRITE)
    wallet = await _wallet(session, principal, wallet_id)
    if body.provider == "stripe":
        intent = await payments.create_stripe_intent(
            settings=settings,
            wallet=wallet,
            amount=body.amount,
            minutes=body.minutes,
            plan=body.plan,
        )
        return TopUpResult(provider="stripe", payment_intent=intent)
    entry = await payments.manual_topup(
        session,
        wallet=wallet,
        amount=body.amount,
        minutes=body.minutes,
        plan=body.plan,
        description=body.description,
        actor_id=principal.actor_id,
    )
    return TopUpResult(provider="manual", transaction=LedgerEntryRead.model_validate(entry))


@router.post(
    "/wallets/{wallet_id}/adjustments",
    response_model=LedgerEntryRead,
    status_code=status.HTTP_201_CREATED,
)
async def adjust_wallet(
    wallet_id: Id, body: AdjustmentCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.WALLET_WRITE, Scope.BILLING_WRITE)
    wallet = await _wallet(session, principal, wallet_id)
    return await payments.adjust(
        session,
        wallet=wallet,
        amount=body.amount,
        reason=body.reason,
        actor_id=principal.actor_id,
    )


@router.get("/wallets/{wallet_id}/transactions", response_model=Page[LedgerEntryRead])
async def list_wallet_transactions(
    wallet_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    type_: Annotated[
        Literal["credit", "debit", "refund", "adjustment"] | None, Query(alias="type")
    ] = None,
) -> Any:
    principal.require(Scope.WALLET_READ)
    wallet = await _wallet(session, principal, wallet_id)
    rows, cursor = await service.list_entries(
        session, org_id=principal.org_id, params=page, wallet_id=wallet.id, type_=type_
    )
    return Page(data=[LedgerEntryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/transactions", response_model=Page[LedgerEntryRead])
async def list_transactions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    type_: Annotated[
        Literal["credit", "debit", "refund", "adjustment"] | None, Query(alias="type")
    ] = None,
    category: Annotated[
        Literal["wallet_topup", "call_charge", "admin_adjustment", "refund"] | None, Query()
    ] = None,
    call_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_entries(
        session,
        org_id=principal.org_id,
        params=page,
        type_=type_,
        category=category,
        related_call_id=call_id,
    )
    return Page(data=[LedgerEntryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/transactions/{transaction_id}", response_model=LedgerEntryRead)
async def get_transaction(
    transaction_id: Id, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.BILLING_READ)
    return await service.get_entry(session, org_id=principal.org_id, entry_id=transaction_id)


# ------------------------------------------------------------------------ rates


@router.get("/rates", response_model=list[RateRead])
async def list_rates(principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.BILLING_READ)
    return await rates.list_rates(session, org_id=principal.org_id)


@router.put("/rates", response_model=RateRead)
async def set_rate(body: RateSet, principal: CurrentPrincipal, session: DbSession) -> Any:
    """Create or replace the per-minute rate for a country and line type (null: any)."""
    principal.require(Scope.BILLING_WRITE)
    return await rates.set_rate(
        session,
        org_id=principal.org_id,
        country=body.country,
        line_type=body.line_type,
        per_minute=body.per_minute,
        currency=body.currency,
    )


@router.delete("/rates/{rate_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rate(rate_id: Id, principal: CurrentPrincipal, session: DbSession) -> None:
    principal.require(Scope.BILLING_WRITE)
    await rates.delete_rate(session, org_id=principal.org_id, rate_id=rate_id)


# ---------------------------------------------------------------------- reports


@router.get("/reports/revenue", response_model=RevenueReport)
async def revenue_report(
    principal: CurrentPrincipal,
    session: DbSession,
    month: Annotated[str | None, Query(description="YYYY-MM, default this month")] = None,
) -> RevenueReport:
    principal.require(Scope.BILLING_READ)
    org = await identity_service.get_organization(session, org_id=principal.org_id)
    month = month or utcnow().strftime("%Y-%m")
    if not _MONTH.match(month):
        raise ValidationFailed(
            "month must look like 2026-02",
            errors=[{"loc": ["query", "month"], "field": "month", "message": "YYYY-MM"}],
        )
    return await reports.revenue_by_day(
        session, org_id=principal.org_id, month=month, timezone=org.timezone
    )


# ----------------------------------------------------------------- stripe hook


@router.post(
    "/providers/stripe/webhook",
    tags=["providers"],
    summary="Stripe events, verified with the endpoint's signing secret",
)
async def stripe_webhook(
    request: Request, session: DbSession, settings: AppSettings
) -> dict[str, str]:
    if settings.stripe_webhook_secret is None:
        raise ServiceUnavailable("Stripe is not configured (COMMBASE_STRIPE_WEBHOOK_SECRET)")
    event = payments.verify_stripe_event(
        payload=await request.body(),
        signature=request.headers.get("stripe-signature"),
        secret=settings.stripe_webhook_secret.get_secret_value(),
    )
    outcome = await payments.apply_stripe_event(session, event=event)
    return {"received": "true", "outcome": outcome}
