"""Invoices: tax by the customer's country or the default, inclusive or exclusive;
gapless numbers under 50 concurrent finalizations; payments never above what is due
and posted to the ledger exactly once; void and uncollectible; one invoice per period
with two renewers at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.billing.customers import service as customers_service
from commbase.billing.invoices import service as invoices
from commbase.billing.invoices.enums import LineKind
from commbase.billing.invoices.models import Invoice
from commbase.billing.models import LedgerEntry
from commbase.billing.subscriptions import lifecycle
from commbase.core.db import Database
from commbase.core.time import FrozenClock, use_clock
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    contact_customer,
    module_app,
    module_client,
    plan,
    subscribe,
)
from tests.identity.factories import make_tenant


async def _one_off(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, **body: Any
) -> httpx.Response:
    body = {
        "customer_id": customer_id,
        "currency": "EUR",
        "lines": [{"description": "Setup", "unit_amount": 10_000}],
        **body,
    }
    return await client.post("/v1/billing/invoices", json=body, headers=headers)


async def test_tax_follows_the_customers_country_or_the_default(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    for rate in (
        {"percent": "20", "inclusive": False},  # the default
        {"country": "DE", "percent": "19", "inclusive": True},
    ):
        assert (await client.put("/v1/billing/tax-rates", json=rate, headers=h)).status_code == 200
    french = await contact_customer(client, h, "Francine", tax_country="FR")
    german = await contact_customer(client, h, "Gerd", tax_country="DE")

    exclusive = await _one_off(client, h, french["id"], finalize=True)
    assert exclusive.status_code == 201, exclusive.text
    body = exclusive.json()
    assert (body["subtotal"], body["tax"], body["total"], body["amount_due"]) == (
        10_000,
        2_000,
        12_000,
        12_000,
    )
    assert (body["status"], body["number"]) == ("open", "INV-000001")
    inclusive = (await _one_off(client, h, german["id"])).json()
    # 100.00 including 19%: 84.03 net, 15.97 tax.
    assert (inclusive["tax"], inclusive["total"], inclusive["tax_inclusive"]) == (
        1_597,
        10_000,
        True,
    )
    assert (inclusive["status"], inclusive["number"]) == ("draft", None)
    finalized = await client.post(
        f"/v1/billing/invoices/{inclusive['id']}/finalize", json={}, headers=h
    )
    assert finalized.json()["number"] == "INV-000002"
    again = await client.post(
        f"/v1/billing/invoices/{inclusive['id']}/finalize", json={}, headers=h
    )
    assert again.status_code == 409


async def test_payments_never_exceed_the_total_and_post_to_the_ledger_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    customer = await contact_customer(client, h)
    invoice = (await _one_off(client, h, customer["id"], finalize=True)).json()
    pay = f"/v1/billing/invoices/{invoice['id']}/payments"

    too_much = await client.post(pay, json={"amount": 10_001}, headers=h)
    assert too_much.status_code == 422
    assert too_much.json()["amount_due"] == 10_000
    keyed = {**h, "Idempotency-Key": "cheque-1"}
    part = await client.post(pay, json={"amount": 4_000, "reference": "cheque 1"}, headers=keyed)
    assert part.status_code == 200, part.text
    assert (part.json()["amount_paid"], part.json()["amount_due"], part.json()["status"]) == (
        4_000,
        6_000,
        "open",
    )
    replay = await client.post(pay, json={"amount": 4_000, "reference": "cheque 1"}, headers=keyed)
    assert replay.json()["amount_paid"] == 4_000
    rest = await client.post(pay, json={}, headers=h)
    body = rest.json()
    assert (body["amount_paid"], body["amount_due"], body["status"]) == (10_000, 0, "paid")
    assert [p["amount"] for p in body["payments"]] == [4_000, 6_000]
    assert (await client.post(pay, json={"amount": 1}, headers=h)).status_code == 409
    void = await client.post(f"/v1/billing/invoices/{invoice['id']}/void", headers=h)
    assert void.status_code == 409

    entry_ids = {p["ledger_entry_id"] for p in body["payments"]}
    async with app.state.db.sessionmaker() as session:
        entries = (
            await session.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.org_id == tenant.org_id,
                    LedgerEntry.category == "invoice_payment",
                )
            )
        ).all()
    assert {e.id for e in entries} == entry_ids
    assert sorted(e.amount for e in entries) == [4_000, 6_000]
    assert {e.currency for e in entries} == {"EUR"}
    wallet = (await client.get(f"/v1/wallets/{entries[0].wallet_id}", headers=h)).json()
    assert (wallet["owner_type"], wallet["balance"]) == ("revenue", 10_000)


async def test_void_and_uncollectible(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    customer = await contact_customer(client, h)
    first = (await _one_off(client, h, customer["id"], finalize=True)).json()
    second = (await _one_off(client, h, customer["id"], finalize=True)).json()
    voided = await client.post(f"/v1/billing/invoices/{first['id']}/void", headers=h)
    assert (voided.json()["status"], voided.json()["amount_due"]) == ("void", 0)
    written_off = await client.post(
        f"/v1/billing/invoices/{second['id']}/mark-uncollectible", headers=h
    )
    assert written_off.json()["status"] == "uncollectible"
    late = await client.post(f"/v1/billing/invoices/{second['id']}/payments", json={}, headers=h)
    assert late.json()["status"] == "paid"
    assert (
        await client.post(f"/v1/billing/invoices/{first['id']}/payments", json={}, headers=h)
    ).status_code == 409
    listed = await client.get("/v1/billing/invoices?status=void", headers=h)
    assert [i["id"] for i in listed.json()["data"]] == [first["id"]]


async def test_fifty_concurrent_invoices_get_gapless_numbers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    customer = await contact_customer(client, tenant.headers)
    database: Database = app.state.db

    async def issue(n: int) -> str | None:
        async with database.sessionmaker() as session:
            row = await customers_service.get_customer(
                session, org_id=tenant.org_id, customer_id=customer["id"]
            )
            invoice = await invoices.create_invoice(
                session,
                customer=row,
                currency="USD",
                lines=[invoices.LineSpec(LineKind.ONE_OFF, f"Item {n}", 100)],
            )
            await invoices.finalize(session, invoice=invoice)
            number = invoice.number
            if n % 10 == 3:
                await session.rollback()  # gives its number back
                return None
            await session.commit()
            return number

    numbers = [n for n in await asyncio.gather(*(issue(n) for n in range(50))) if n]
    assert len(numbers) == 45
    assert sorted(numbers) == [f"INV-{n:06d}" for n in range(1, 46)]


async def test_two_renewers_at_once_write_one_invoice_per_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Two processes (two engines, on PostgreSQL two connection pools) renew together."""
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    with use_clock(clock):
        basic = await plan(client, h, "basic", 3000)
        customers = [await contact_customer(client, h, f"Buyer {n}") for n in range(4)]
        subs = [await subscribe(client, h, c["id"], basic["id"]) for c in customers]
        clock.set(datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC))
        other = Database(app.state.settings.database_url)
        try:
            moved = await asyncio.gather(
                lifecycle.renew_due(app.state.db, now=clock.now(), org_id=tenant.org_id),
                lifecycle.renew_due(other, now=clock.now(), org_id=tenant.org_id),
            )
        finally:
            await other.dispose()
    assert sum(moved) == 12  # 4 subscriptions x February, March, April
    async with app.state.db.sessionmaker() as session:
        per_period = (
            await session.execute(
                select(Invoice.subscription_id, func.count())
                .where(Invoice.org_id == tenant.org_id)
                .group_by(Invoice.subscription_id)
            )
        ).all()
    assert sorted(count for _, count in per_period) == [4, 4, 4, 4]
    assert {sub_id for sub_id, _ in per_period} == {s["id"] for s in subs}


async def test_invoice_figures_through_the_registry_and_overdue_invoices(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    clock = FrozenClock(datetime(2026, 5, 4, 10, tzinfo=UTC))
    with use_clock(clock):
        customer = await contact_customer(client, h)
        paid = (await _one_off(client, h, customer["id"], finalize=True, currency="USD")).json()
        part = (await _one_off(client, h, customer["id"], finalize=True, currency="USD")).json()
        await _one_off(client, h, customer["id"], currency="USD")  # a draft bills nothing
        await client.post(f"/v1/billing/invoices/{paid['id']}/payments", json={}, headers=h)
        await client.post(
            f"/v1/billing/invoices/{part['id']}/payments", json={"amount": 2_500}, headers=h
        )
        clock.set(datetime(2026, 5, 20, tzinfo=UTC))
        overdue = await client.get("/v1/billing/invoices?overdue=true", headers=h)
        assert [i["id"] for i in overdue.json()["data"]] == [part["id"]]
        series = await client.get(
            "/v1/analytics/series?metrics=invoices.issued,invoices.paid,invoices.billed,"
            "invoices.collected,invoices.outstanding,revenue.invoice_payments"
            "&interval=month&from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            headers=h,
        )
    assert series.status_code == 200, series.text
    totals = {e["metric"]: e["total"] for e in series.json()["series"]}
    assert totals == {
        "invoices.issued": 2,
        "invoices.paid": 1,
        "invoices.billed": 20_000,
        "invoices.collected": 12_500,
        "invoices.outstanding": 7_500,
        "revenue.invoice_payments": 12_500,
    }
