"""Downloadable documents: ``/v1/billing/invoices/{id}.html|.pdf`` and
``/v1/billing/receipts/{transaction_id}.html|.pdf`` (a wallet top-up's receipt).

Included before the invoice router, so ``{id}.html`` is not read as an invoice id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from commbase.billing.documents import html, pdf, service
from commbase.billing.documents.model import Document
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/billing", tags=["billing documents"])

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The document as a PDF"}
}


def _pdf(document: Document) -> Response:
    filename = f"{document.title.lower()}-{document.number}.pdf"
    return Response(
        pdf.render(document),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/invoices/{invoice_id}.html", response_class=HTMLResponse)
async def invoice_html(
    invoice_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> HTMLResponse:
    principal.require(Scope.BILLING_READ)
    document = await service.invoice_document(
        session, org_id=principal.org_id, invoice_id=invoice_id
    )
    return HTMLResponse(html.render(document))


@router.get("/invoices/{invoice_id}.pdf", response_class=Response, responses=PDF)
async def invoice_pdf(
    invoice_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Response:
    principal.require(Scope.BILLING_READ)
    document = await service.invoice_document(
        session, org_id=principal.org_id, invoice_id=invoice_id
    )
    return _pdf(document)


@router.get("/receipts/{transaction_id}.html", response_class=HTMLResponse)
async def receipt_html(
    transaction_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> HTMLResponse:
    principal.require(Scope.WALLET_READ)
    document = await service.receipt_document(
        session, principal=principal, transaction_id=transaction_id
    )
    return HTMLResponse(html.render(document))


@router.get("/receipts/{transaction_id}.pdf", response_class=Response, responses=PDF)
async def receipt_pdf(
    transaction_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Response:
    principal.require(Scope.WALLET_READ)
    document = await service.receipt_document(
        session, principal=principal, transaction_id=transaction_id
    )
    return _pdf(document)
