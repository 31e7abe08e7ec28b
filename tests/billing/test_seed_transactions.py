"""Seed 002's transactions and billing summary, read from the ledger, invoices and
invoice payments: top-ups are purchases, a subscription's invoice payments are
subscription transactions, top-up refunds are refunds; per user, per organization;
a provider payment pending, then failed."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from commbase.billing import pending
from commbase.billing.enums import LedgerCategory, LedgerType, PaymentMethod
from commbase.billing.ledger import Posting
from commbase.billing.models import LedgerEntry, Wallet
from commbase.identity.roles import Role
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    created,
    module_app,
    module_client,
    plan,
    subscribe,
)
from tests.identity.factories import add_member, make_tenant


async def _paid_invoices(
    client: httpx.AsyncClient, h: dict[str, str], user_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A user customer who pays 40.00 of a one-off invoice and all of a subscription's."""
    customer = await created(
        client, h, "/v1/billing/customers", kind="user", reference_id=user_id, name="Ulla"
    )
    one_off = await created(
        client,
        h,
        "/v1/billing/invoices",
        customer_id=customer["id"],
        currency="USD",
        lines=[{"description": "Setup", "unit_amount": 10_000}],
        finalize=True,
    )
    paid = await client.post(
        f"/v1/billing/invoices/{one_off['id']}/payments", json={"amount": 4_000}, headers=h
    )
    assert paid.status_code == 200, paid.text
    basic = await plan(client, h, "basic", 3_000)
    sub = await subscribe(client, h, customer["id"], basic["id"])
    listed = await client.get(f"/v1/billing/invoices?subscription_id={sub['id']}", headers=h)
    first = listed.json()["data"][0]
    paid = await client.post(f"/v1/billing/invoices/{first['id']}/payments", json={}, headers=h)
    assert paid.status_code == 200, paid.text
    return one_off, sub


async def test_a_users_transactions_and_summary_come_from_the_ledger(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h, user = tenant.headers, tenant.owner_id
    wallet = await created(client, h, "/v1/wallets", owner_type="user", owner_id=user)
    topped = await client.post(
        f"/v1/wallets/{wallet['id']}/topups", json={"amount": 5_000}, headers=h
    )
    topup_id = topped.json()["transaction"]["id"]
    refund = await client.post(
        f"/v1/transactions/{topup_id}/refunds", json={"amount": 1_000}, headers=h
    )
    assert refund.status_code == 201, refund.text
    one_off, sub = await _paid_invoices(client, h, user)
    # Another member's top-up and the organization's own wallet are not this user's.
    other, _ = await add_member(app, tenant, role=Role.AGENT)
    theirs = await created(client, h, "/v1/wallets", owner_type="user", owner_id=other)
    await client.post(f"/v1/wallets/{theirs['id']}/topups", json={"amount": 700}, headers=h)

    listed = await client.get(f"/v1/billing/transactions?user_id={user}", headers=h)
    assert listed.status_code == 200, listed.text
    rows = listed.json()["data"]
    assert [(r["type"], r["amount"], r["currency"], r["status"]) for r in rows] == [
        ("subscription", 3_000, "USD", "completed"),
        ("purchase", 4_000, "USD", "completed"),
        ("refund", 1_000, "USD", "completed"),
        ("purchase", 5_000, "USD", "completed"),
    ]
    assert {r["user_id"] for r in rows} == {user}
    assert rows[0]["subscription_id"] == sub["id"]
    assert (rows[1]["invoice_id"], rows[1]["invoice_number"]) == (one_off["id"], "INV-000001")
    assert (rows[2]["refund_of"], rows[3]["wallet_id"]) == (topup_id, wallet["id"])
    assert rows[3]["refunded_amount"] == 1_000
    assert rows[1]["receipt_url"] == f"/v1/billing/invoices/{one_off['id']}.pdf"
    assert rows[2]["receipt_url"] is None  # a refund has no receipt
    receipt = await client.get(rows[3]["receipt_url"], headers=h)
    assert receipt.status_code == 200
    assert receipt.content.startswith(b"%PDF-")

    refunds = await client.get(f"/v1/billing/transactions?user_id={user}&type=refund", headers=h)
    assert [r["id"] for r in refunds.json()["data"]] == [rows[2]["id"]]
    paged = await client.get(f"/v1/billing/transactions?user_id={user}&limit=3", headers=h)
    rest = await client.get(
        f"/v1/billing/transactions?user_id={user}&limit=3&cursor={paged.json()['next_cursor']}",
        headers=h,
    )
    assert [r["id"] for r in rest.json()["data"]] == [rows[3]["id"]]
    none = await client.get(
        f"/v1/billing/transactions?user_id={user}&from=2099-01-01T00:00:00Z", headers=h
    )
    assert none.json()["data"] == []

    one = await client.get(f"/v1/billing/transactions/{rows[0]['id']}", headers=h)
    assert one.status_code == 200
    assert one.json() == rows[0]
    summary = (await client.get(f"/v1/billing/summary/{user}", headers=h)).json()
    assert summary["transactions"] == 4
    assert summary["currencies"] == [
        {
            "currency": "USD",
            "purchases": 9_000,
            "subscriptions": 3_000,
            "refunds": 1_000,
            "net": 11_000,
            "pending": 0,
            "outstanding": 6_000,  # the one-off invoice's rest
            "transactions": 4,
        }
    ]
    empty = (await client.get(f"/v1/billing/summary/{other}", headers=h)).json()
    assert (empty["transactions"], empty["currencies"][0]["purchases"]) == (1, 700)

    # A call charge is the wallet's ledger, not a transaction of seed 002.
    org_wallet = await created(client, h, "/v1/wallets")
    org_topup = await client.post(
        f"/v1/wallets/{org_wallet['id']}/topups", json={"amount": 100}, headers=h
    )
    not_a_users = org_topup.json()["transaction"]["id"]
    assert (
        await client.get(f"/v1/billing/transactions/{not_a_users}", headers=h)
    ).status_code == 404


async def test_other_organizations_scopes_and_bad_input(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant, stranger = await make_tenant(app), await make_tenant(app)
    h, user = tenant.headers, tenant.owner_id
    wallet = await created(client, h, "/v1/wallets", owner_type="user", owner_id=user)
    topped = await client.post(
        f"/v1/wallets/{wallet['id']}/topups", json={"amount": 500}, headers=h
    )
    txn = topped.json()["transaction"]["id"]

    s = stranger.headers
    assert (
        await client.get(f"/v1/billing/transactions?user_id={user}", headers=s)
    ).status_code == 404
    assert (await client.get(f"/v1/billing/transactions/{txn}", headers=s)).status_code == 404
    assert (await client.get(f"/v1/billing/summary/{user}", headers=s)).status_code == 404
    assert (await client.get("/v1/billing/summary/usr_nobody", headers=h)).status_code == 404

    key = await client.post(
        "/v1/api-keys", json={"name": "calls only", "scopes": ["calls:read"]}, headers=h
    )
    narrow = {"Authorization": f"Bearer {key.json()['key']}"}
    for path in (f"/v1/billing/transactions?user_id={user}", f"/v1/billing/summary/{user}"):
        assert (await client.get(path, headers=narrow)).status_code == 403

    for query in (
        "",  # user_id is required
        f"user_id={user}&type=gift",
        f"user_id={user}&status=lost",
        f"user_id={user}&currency=XXY",
        f"user_id={user}&from=2026-01-01T00:00:00",  # no offset
        f"user_id={user}&cursor=!!",
        f"user_id={'u' * 41}",
    ):
        response = await client.get(f"/v1/billing/transactions?{query}", headers=h)
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_provider_payment_is_pending_until_settled_then_failed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """As a Stripe top-up is recorded before its webhook: pending, then failed."""
    tenant = await make_tenant(app)
    h, user = tenant.headers, tenant.owner_id
    created_wallet = await created(client, h, "/v1/wallets", owner_type="user", owner_id=user)
    async with app.state.db.sessionmaker() as session:
        wallet = await session.get(Wallet, created_wallet["id"])
        assert wallet is not None
        entry = await pending.record_pending(
            session,
            wallet=wallet,
            amount=2_000,
            posting=Posting(
                type=LedgerType.CREDIT,
                category=LedgerCategory.WALLET_TOPUP,
                idempotency_key=f"stripe:pi_{user}",
                payment_method=PaymentMethod.STRIPE,
                provider_transaction_id=f"pi_{user}",
            ),
        )
        await session.commit()
    shown = await client.get(f"/v1/billing/transactions?user_id={user}&status=pending", headers=h)
    (row,) = shown.json()["data"]
    assert (row["id"], row["type"], row["status"]) == (entry.id, "purchase", "pending")
    assert (row["provider_transaction_id"], row["receipt_url"]) == (f"pi_{user}", None)
    assert (await client.get(f"/v1/billing/receipts/{entry.id}.pdf", headers=h)).status_code == 404
    summary = (await client.get(f"/v1/billing/summary/{user}", headers=h)).json()
    usd = summary["currencies"][0]
    assert (usd["purchases"], usd["pending"], usd["net"]) == (0, 2_000, 0)

    async with app.state.db.sessionmaker() as session:
        stored = await session.get(LedgerEntry, entry.id)
        assert stored is not None
        assert await pending.fail_pending(session, entry=stored, code="card_declined", message="no")
        await session.commit()
    failed = (await client.get(f"/v1/billing/transactions/{entry.id}", headers=h)).json()
    assert failed["status"] == "failed"
    usd = (await client.get(f"/v1/billing/summary/{user}", headers=h)).json()["currencies"][0]
    assert (usd["pending"], usd["purchases"], usd["transactions"]) == (0, 0, 1)
