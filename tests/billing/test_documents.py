"""Invoices and top-up receipts as documents: a readable, escaped HTML page and a PDF
(fpdf2) that carries the invoice number; another organization's are 404."""

from __future__ import annotations

import re
import zlib
from typing import Any

import httpx
from fastapi import FastAPI

from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    contact_customer,
    created,
    module_app,
    module_client,
)
from tests.identity.factories import make_tenant

# Up to ``endstream`` with the line break before it: a compressed stream may itself end
# with a byte 0x0d, which a pattern taking an optional ``\r`` before the break would eat.
STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)


def pdf_text(body: bytes) -> bytes:
    """Every content stream of a PDF, inflated (fpdf2 compresses them)."""
    out = []
    for raw in STREAM.findall(body):
        try:
            # A decompressor stops at the end of the compressed data (the line break after).
            out.append(zlib.decompressobj().decompress(raw))
        except zlib.error:
            out.append(raw)
    return b"\n".join(out)


async def _invoice(
    client: httpx.AsyncClient, h: dict[str, str], name: str, **body: Any
) -> dict[str, Any]:
    customer = await contact_customer(
        client, h, name, email="buyer@example.com", address={"line1": "1 Rue <b>", "city": "Lyon"}
    )
    return await created(
        client,
        h,
        "/v1/billing/invoices",
        customer_id=customer["id"],
        currency="EUR",
        lines=[
            {"description": "Setup & onboarding", "unit_amount": 10_000},
            {"description": "Seats", "unit_amount": 2_500, "quantity": 2},
        ],
        memo="Thank you",
        **{"finalize": True, **body},
    )


async def test_an_invoice_as_html_and_pdf(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, name="Acme Support")
    h = tenant.headers
    assert (
        await client.put("/v1/billing/tax-rates", json={"percent": "20"}, headers=h)
    ).status_code == 200
    invoice = await _invoice(client, h, "<script>alert(1)</script>")
    pay = f"/v1/billing/invoices/{invoice['id']}/payments"
    assert (await client.post(pay, json={"amount": 5_000}, headers=h)).status_code == 200

    page = await client.get(f"/v1/billing/invoices/{invoice['id']}.html", headers=h)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "1 Rue &lt;b&gt;" in text
    assert "Setup &amp; onboarding" in text
    for shown in (
        "Invoice INV-000001",
        "Acme Support",
        "buyer@example.com",
        "150.00 EUR",  # subtotal: 100 + 2 x 25
        "Tax 20%",
        "30.00 EUR",
        "180.00 EUR",  # total
        "-50.00 EUR",  # paid
        "130.00 EUR",  # due
        invoice["due_at"][:10],
        "Thank you",
    ):
        assert shown in text, shown

    document = await client.get(f"/v1/billing/invoices/{invoice['id']}.pdf", headers=h)
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    assert "invoice-INV-000001.pdf" in document.headers["content-disposition"]
    body = document.content
    assert body.startswith(b"%PDF-")
    assert body.rstrip().endswith(b"%%EOF")
    content = pdf_text(body)
    for shown in (b"INV-000001", b"180.00 EUR", b"130.00 EUR", b"Acme Support"):
        assert shown in content, shown

    # Beyond Latin-1 the PDF embeds a Unicode font rather than failing.
    wide = await _invoice(client, h, "Zoë Ψ Жанна")
    unicode_pdf = await client.get(f"/v1/billing/invoices/{wide['id']}.pdf", headers=h)
    assert unicode_pdf.status_code == 200
    assert unicode_pdf.content.startswith(b"%PDF-")

    draft = await _invoice(client, h, "Drafty", finalize=False)
    assert (
        "Invoice DRAFT"
        in (await client.get(f"/v1/billing/invoices/{draft['id']}.html", headers=h)).text
    )


async def test_receipts_and_what_others_cannot_see(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant, stranger = await make_tenant(app, name="Seller Org"), await make_tenant(app)
    h = tenant.headers
    wallet = await created(client, h, "/v1/wallets", owner_type="user", owner_id=tenant.owner_id)
    topped = await client.post(
        f"/v1/wallets/{wallet['id']}/topups", json={"amount": 2_500}, headers=h
    )
    entry = topped.json()["transaction"]
    receipt = await client.get(f"/v1/billing/receipts/{entry['id']}.html", headers=h)
    assert receipt.status_code == 200
    for shown in (
        f"Receipt {entry['receipt_number']}",
        "Seller Org",
        "25.00 USD",
        tenant.owner_email,
    ):
        assert shown in receipt.text, shown
    document = await client.get(f"/v1/billing/receipts/{entry['id']}.pdf", headers=h)
    assert document.status_code == 200
    assert entry["receipt_number"].encode() in pdf_text(document.content)

    invoice = await _invoice(client, h, "Private Buyer")
    s = stranger.headers
    for path in (
        f"/v1/billing/invoices/{invoice['id']}.html",
        f"/v1/billing/invoices/{invoice['id']}.pdf",
        f"/v1/billing/receipts/{entry['id']}.html",
        f"/v1/billing/receipts/{entry['id']}.pdf",
        "/v1/billing/invoices/inv_missing.pdf",
    ):
        response = await client.get(path, headers=s)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    # Only a completed top-up has a receipt; an invoice payment's ledger entry has not.
    paid = await client.post(f"/v1/billing/invoices/{invoice['id']}/payments", json={}, headers=h)
    payment_entry = paid.json()["payments"][0]["ledger_entry_id"]
    assert (
        await client.get(f"/v1/billing/receipts/{payment_entry}.html", headers=h)
    ).status_code == 404
    key = await client.post(
        "/v1/api-keys", json={"name": "calls only", "scopes": ["calls:read"]}, headers=h
    )
    narrow = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (
        await client.get(f"/v1/billing/invoices/{invoice['id']}.pdf", headers=narrow)
    ).status_code == 403


async def test_invoices_and_top_ups_link_their_documents(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app, name="Linking Org")
    h = tenant.headers
    invoice = await _invoice(client, h, "Linked Buyer")
    links = invoice["document_url"]
    assert links == {
        "html": f"/v1/billing/invoices/{invoice['id']}.html",
        "pdf": f"/v1/billing/invoices/{invoice['id']}.pdf",
    }
    listed = (await client.get("/v1/billing/invoices", headers=h)).json()["data"]
    assert [i["document_url"] for i in listed] == [links]
    page = await client.get(links["html"], headers=h)
    assert page.status_code == 200
    assert invoice["number"] in page.text
    document = await client.get(links["pdf"], headers=h)
    assert document.headers["content-type"] == "application/pdf"
    assert invoice["number"].encode() in pdf_text(document.content)

    wallet = await created(client, h, "/v1/wallets", owner_type="user", owner_id=tenant.owner_id)
    topped = await client.post(
        f"/v1/wallets/{wallet['id']}/topups", json={"amount": 1_200}, headers=h
    )
    entry = topped.json()["transaction"]
    assert entry["receipt_url"] == f"/v1/billing/receipts/{entry['id']}.pdf"
    receipt = await client.get(entry["receipt_url"], headers=h)
    assert entry["receipt_number"].encode() in pdf_text(receipt.content)
    shown = await client.get(f"/v1/wallets/{wallet['id']}/transactions", headers=h)
    assert [e["receipt_url"] for e in shown.json()["data"]] == [entry["receipt_url"]]
