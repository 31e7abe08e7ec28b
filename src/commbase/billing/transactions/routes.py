"""Seed 002's billing routes: ``/v1/billing/transactions`` and ``/v1/billing/summary``.

Read-only views of the ledger. Money is recorded where it always is: a top-up
(``POST /v1/wallets/{id}/topups``), an invoice payment
(``POST /v1/billing/invoices/{id}/payments``), a refund
(``POST /v1/transactions/{id}/refunds``); provider webhooks settle pending ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from commbase.billing.enums import LedgerStatus
from commbase.billing.transactions import service
from commbase.billing.transactions.enums import TransactionType
from commbase.billing.transactions.schemas import BillingSummary, TransactionRead
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import Currency, PathId, UtcDateTime

router = APIRouter(prefix="/v1/billing", tags=["billing transactions"])


@router.get("/transactions", response_model=Page[TransactionRead])
async def list_transactions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    user_id: Annotated[str, Query(min_length=1, max_length=40, description="Whose transactions")],
    type_: Annotated[TransactionType | None, Query(alias="type")] = None,
    status_: Annotated[LedgerStatus | None, Query(alias="status")] = None,
    currency: Annotated[Currency | None, Query()] = None,
    created_from: Annotated[UtcDateTime | None, Query(alias="from")] = None,
    created_to: Annotated[UtcDateTime | None, Query(alias="to")] = None,
) -> Page[TransactionRead]:
    """A member's purchases, subscription payments and refunds, newest first."""
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_transactions(
        session,
        org_id=principal.org_id,
        user_id=user_id,
        params=page,
        type_=type_,
        status=status_,
        currency=currency,
        created_from=created_from,
        created_to=created_to,
    )
    return Page(data=list(rows), next_cursor=cursor)


@router.get("/transactions/{transaction_id}", response_model=TransactionRead)
async def get_transaction(
    transaction_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> TransactionRead:
    principal.require(Scope.BILLING_READ)
    return await service.get_transaction(
        session, org_id=principal.org_id, transaction_id=transaction_id
    )


@router.get("/summary/{user_id}", response_model=BillingSummary)
async def billing_summary(
    user_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> BillingSummary:
    principal.require(Scope.BILLING_READ)
    return await service.summarize(session, org_id=principal.org_id, user_id=user_id)
