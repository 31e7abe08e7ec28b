"""Invoice payments through providers: Stripe (its SDK against a local server that
answers like Stripe), PayPal and Cashfree (httpx.MockTransport with their real
payload shapes) and the offline simulator. Signatures good, forged and stale; a paid
amount in the ledger once under repeated and concurrent webhooks; payments never
above the total; refunds bounded by and pointing at their payment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.app import create_app
from commbase.billing.models import LedgerEntry
from commbase.core.effects import EffectRunner
from tests.billing.factories import (
    LIVE_KEY,
    SANDBOX_KEY,
    WEBHOOK_SECRET,
    entries,
    open_wallet,
    shown,
    signed,
)
from tests.billing.provider_fakes import (
    CASHFREE_SECRET,
    PAYPAL_WEBHOOK_ID,
    FakeProviders,
    cashfree_event,
    cashfree_headers,
    paypal_approved,
    paypal_headers,
)
from tests.billing.recurring import contact_customer, invoices_of, plan, subscribe
from tests.billing.stripe_fake import FakeStripe, fake_stripe
from tests.calls.factories import outbox_payloads, outbox_types
from tests.conftest import client_for, make_settings, module_stack
from tests.identity.factories import Tenant, make_tenant

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    stripe: FakeStripe
    fakes: FakeProviders


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with fake_stripe() as server:
        yield server


@pytest.fixture(scope="module")
async def payments_app(
    stack: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    stripe_server: FakeStripe,
) -> AsyncIterator[FastAPI]:
    database_url, redis_url = module_stack(stack, request, tmp_path_factory, "payments")
    settings = make_settings(
        database_url,
        redis_url,
        stripe_api_key=LIVE_KEY,
        stripe_test_api_key=SANDBOX_KEY,
        stripe_api_base=stripe_server.url,
        stripe_webhook_secret=WEBHOOK_SECRET,
        paypal_client_id="AYSq3RDGsmBLJE-otTkBtM-jBRd1TCQwFf9RGfwddNXWz0uFU9ztymylOhRS",
        paypal_client_secret="EGnHDxD_qRPdaLdZz8iCr8N7_MzF-YHPTkjs6NKYQvQSBngp4PTTVWkPZRbL",
        paypal_webhook_id=PAYPAL_WEBHOOK_ID,
        paypal_api_base="https://api-m.sandbox.paypal.com",
        cashfree_client_id="TEST10123456789",
        cashfree_client_secret=CASHFREE_SECRET,
        cashfree_api_base="https://sandbox.cashfree.com",
    )
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def world(payments_app: FastAPI, stripe_server: FakeStripe) -> AsyncIterator[World]:
    fakes = FakeProviders()
    payments_app.state.job_services["payments_transport"] = fakes.transport()
    # A PaymentIntent made without confirming waits for the customer, as at Stripe.
    stripe_server.intent_status = "requires_payment_method"
    async with client_for(payments_app) as client:
        yield World(payments_app, client, stripe_server, fakes)


async def open_invoice(
    world: World, tenant: Tenant, amount: int = 10_000, currency: str = "USD"
) -> dict[str, Any]:
    customer = await contact_customer(world.client, tenant.headers, "Priya Payer")
    created = await world.client.post(
        "/v1/billing/invoices",
        json={
            "customer_id": customer["id"],
            "currency": currency,
            "lines": [{"description": "Onboarding", "unit_amount": amount}],
            "finalize": True,
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    invoice: dict[str, Any] = created.json()
    assert invoice["status"] == "open"
    return invoice


async def checkout(world: World, tenant: Tenant, invoice_id: str, **body: Any) -> dict[str, Any]:
    response = await world.client.post(
        f"/v1/billing/invoices/{invoice_id}/checkout", json=body, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def invoice_of(world: World, tenant: Tenant, invoice_id: str) -> dict[str, Any]:
    response = await world.client.get(f"/v1/billing/invoices/{invoice_id}", headers=tenant.headers)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def ledger_credits(app: FastAPI, payment_id: str) -> int:
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                LedgerEntry.idempotency_key == f"invoice-payment:{payment_id}"
            )
        )
    return int(count or 0)


# ------------------------------------------------------------------ Cashfree


async def test_cashfree_signed_webhook_pays_once_forged_and_stale_are_refused(
    world: World,
) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 250_000, "INR")
    started = await checkout(
        world, tenant, invoice["id"], provider="cashfree", customer_phone="9999999999"
    )
    payment = started["payment"]
    assert (payment["status"], started["payment_session_id"]) == ("pending", "session_a1b2c3d4e5f6")
    [order] = world.fakes.to("/pg/orders")
    sent = json.loads(order.content)
    assert (sent["order_id"], sent["order_amount"], sent["order_currency"]) == (
        payment["id"],
        2500.0,
        "INR",
    )
    assert order.headers["x-idempotency-key"] == f"order-{payment['id']}"
    body = cashfree_event(payment["provider_payment_id"], "2500.00", "INR")
    hook = "/v1/providers/cashfree/webhook"

    forged = await world.client.post(hook, content=body, headers=cashfree_headers(body, secret="x"))
    stale = await world.client.post(hook, content=body, headers=cashfree_headers(body, age_s=3600))
    tampered = await world.client.post(
        hook, content=body.replace("2500.0", "1.0"), headers=cashfree_headers(body)
    )
    for refused in (forged, stale, tampered):
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert "stale" in stale.json()["detail"]
    assert (await invoice_of(world, tenant, invoice["id"]))["amount_paid"] == 0

    # Cashfree retries deliveries, some at once: the payment is posted once.
    deliveries = await asyncio.gather(
        *[world.client.post(hook, content=body, headers=cashfree_headers(body)) for _ in range(4)]
    )
    assert [d.status_code for d in deliveries] == [200] * 4
    assert sorted(d.json()["outcome"] for d in deliveries) == ["ignored"] * 3 + ["succeeded"]
    again = await world.client.post(hook, content=body, headers=cashfree_headers(body))
    assert again.json()["outcome"] == "ignored"
    paid = await invoice_of(world, tenant, invoice["id"])
    assert (paid["status"], paid["amount_paid"], paid["amount_due"]) == ("paid", 250_000, 0)
    assert await ledger_credits(world.app, payment["id"]) == 1
    shown = await world.client.get(f"/v1/billing/payments/{payment['id']}", headers=tenant.headers)
    assert shown.json()["status"] == "succeeded"


async def test_a_failed_cashfree_payment_leaves_the_invoice_open(world: World) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 10_000, "INR")
    payment = (await checkout(world, tenant, invoice["id"], provider="cashfree"))["payment"]
    body = cashfree_event(payment["id"], "100.00", "INR", status="FAILED")
    answer = await world.client.post(
        "/v1/providers/cashfree/webhook", content=body, headers=cashfree_headers(body)
    )
    assert answer.json()["outcome"] == "failed"
    shown = (
        await world.client.get(f"/v1/billing/payments/{payment['id']}", headers=tenant.headers)
    ).json()
    assert (shown["status"], shown["failure_code"]) == ("failed", "TRANSACTION_DECLINED")
    # A late success report of the failed payment changes nothing (statuses move forward).
    types = await outbox_types(world.app, tenant)
    assert (types.count("payment.failed"), types.count("invoice.payment_failed")) == (1, 1)
    failed_payload = (await outbox_payloads(world.app, tenant, "payment.failed"))[0]
    assert (failed_payload["id"], failed_payload["failure_code"]) == (
        payment["id"],
        "TRANSACTION_DECLINED",
    )
    late = cashfree_event(payment["id"], "100.00", "INR")
    await world.client.post(
        "/v1/providers/cashfree/webhook", content=late, headers=cashfree_headers(late)
    )
    assert (await invoice_of(world, tenant, invoice["id"]))["status"] == "open"


# ------------------------------------------------------------------ PayPal


async def test_paypal_order_approved_is_verified_by_paypal_then_captured_once(
    world: World,
) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 10_000)
    started = await checkout(
        world, tenant, invoice["id"], provider="paypal", return_url="https://shop.example/done"
    )
    order_id = started["payment"]["provider_payment_id"]
    assert started["approval_url"] == f"https://www.paypal.com/checkoutnow?token={order_id}"
    [created] = world.fakes.to("/v2/checkout/orders")
    assert json.loads(created.content)["purchase_units"][0]["amount"] == {
        "currency_code": "USD",
        "value": "100.00",
    }
    assert created.headers["authorization"] == "Bearer A21AAFakeToken"
    body = paypal_approved(order_id)
    hook = "/v1/providers/paypal/webhook"

    world.fakes.paypal_verification = "FAILURE"
    refused = await world.client.post(hook, content=body, headers=paypal_headers())
    assert refused.status_code == 400
    missing = await world.client.post(hook, content=body, headers={"PAYPAL-AUTH-ALGO": "x"})
    assert missing.status_code == 400
    assert (await invoice_of(world, tenant, invoice["id"]))["amount_paid"] == 0

    world.fakes.paypal_verification = "SUCCESS"
    first = await world.client.post(hook, content=body, headers=paypal_headers())
    second = await world.client.post(hook, content=body, headers=paypal_headers())
    assert (first.json()["outcome"], second.json()["outcome"]) == ("succeeded", "ignored")
    [verification, *_] = world.fakes.to("/v1/notifications/verify-webhook-signature")
    asked = json.loads(verification.content)
    assert body.encode() in verification.content  # the event byte for byte, as signed
    assert asked["webhook_id"] == PAYPAL_WEBHOOK_ID
    assert asked["transmission_id"] == "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
    assert asked["webhook_event"]["event_type"] == "CHECKOUT.ORDER.APPROVED"
    captures = world.fakes.to(f"/v2/checkout/orders/{order_id}/capture")
    assert {c.headers["paypal-request-id"] for c in captures} == {f"capture-{order_id}"}
    paid = await invoice_of(world, tenant, invoice["id"])
    assert (paid["status"], paid["amount_paid"]) == ("paid", 10_000)
    assert await ledger_credits(world.app, started["payment"]["id"]) == 1


# ------------------------------------------------------------------ Stripe


def _intent_succeeded(intent_id: str, amount: int, metadata: dict[str, str]) -> str:
    return json.dumps(
        {
            "id": f"evt_{intent_id}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "livemode": True,
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": metadata,
                }
            },
        }
    )


def _stale_signature(payload: str) -> dict[str, str]:
    timestamp = int(time.time()) - 3600
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", WEBHOOK_SECRET)
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}


async def test_stripe_payment_intent_for_an_invoice_paid_once_by_its_signed_webhook(
    world: World,
) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 4_200)
    headers = {**tenant.headers, "Idempotency-Key": "pay-inv-1"}
    first = await world.client.post(
        f"/v1/billing/invoices/{invoice['id']}/checkout",
        json={"provider": "stripe"},
        headers=headers,
    )
    assert first.status_code == 201, first.text
    started = first.json()
    payment = started["payment"]
    assert started["client_secret"].startswith(payment["provider_payment_id"])
    [arrived] = [
        a
        for a in world.stripe.requests_to("/v1/payment_intents")
        if a.form.get("metadata[invoice_payment_id]") == payment["id"]
    ]
    assert arrived.form["amount"] == "4200"
    assert arrived.headers["idempotency-key"].startswith("commbase-invoice-")
    replay = await world.client.post(
        f"/v1/billing/invoices/{invoice['id']}/checkout",
        json={"provider": "stripe"},
        headers=headers,
    )
    assert replay.json()["payment"]["id"] == payment["id"]

    payload = _intent_succeeded(
        payment["provider_payment_id"],
        4_200,
        {"org_id": tenant.org_id, "invoice_id": invoice["id"], "invoice_payment_id": payment["id"]},
    )
    hook = "/v1/providers/stripe/webhook"
    forged = await world.client.post(hook, content=payload, headers=signed(payload, "whsec_no"))
    stale = await world.client.post(hook, content=payload, headers=_stale_signature(payload))
    assert (forged.status_code, stale.status_code) == (400, 400)
    deliveries = await asyncio.gather(
        *[world.client.post(hook, content=payload, headers=signed(payload)) for _ in range(3)]
    )
    assert sorted(d.json()["outcome"] for d in deliveries) == ["credited", "ignored", "ignored"]
    paid = await invoice_of(world, tenant, invoice["id"])
    assert (paid["status"], paid["amount_paid"]) == ("paid", 4_200)
    assert await ledger_credits(world.app, payment["id"]) == 1


# ------------------------------------------------------------------ limits and refunds


async def test_payments_never_exceed_the_total(world: World) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 10_000, "INR")
    a = (await checkout(world, tenant, invoice["id"], provider="cashfree"))["payment"]
    b = (await checkout(world, tenant, invoice["id"], provider="cashfree"))["payment"]
    too_much = await world.client.post(
        f"/v1/billing/invoices/{invoice['id']}/checkout",
        json={"provider": "cashfree", "amount": 10_001},
        headers=tenant.headers,
    )
    assert too_much.status_code == 422
    bodies = [cashfree_event(p["id"], "100.00", "INR") for p in (a, b)]
    answers = await asyncio.gather(
        *[
            world.client.post(
                "/v1/providers/cashfree/webhook", content=body, headers=cashfree_headers(body)
            )
            for body in bodies
        ]
    )
    assert sorted(r.json()["outcome"] for r in answers) == ["ignored", "succeeded"]
    paid = await invoice_of(world, tenant, invoice["id"])
    assert (paid["amount_paid"], paid["amount_due"], paid["status"]) == (10_000, 0, "paid")
    listed = await world.client.get(
        f"/v1/billing/payments?invoice_id={invoice['id']}", headers=tenant.headers
    )
    statuses = sorted((p["status"], p["failure_code"]) for p in listed.json()["data"])
    assert statuses[0][0] == "failed"
    assert statuses[0][1] in ("invoice_not_payable", "exceeds_amount_due")
    assert statuses[1] == ("succeeded", None)


async def test_refunds_point_at_their_payment_bounded_and_idempotent(world: World) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 9_000)
    started = await checkout(
        world, tenant, invoice["id"], provider="simulator", payment_method="sim_card_ok"
    )
    payment = started["payment"]
    assert payment["status"] == "succeeded"
    url = f"/v1/billing/payments/{payment['id']}/refunds"
    keyed = {**tenant.headers, "Idempotency-Key": "refund-1"}
    first = await world.client.post(url, json={"amount": 3_000, "reason": "late"}, headers=keyed)
    assert first.status_code == 201, first.text
    again = await world.client.post(url, json={"amount": 3_000, "reason": "late"}, headers=keyed)
    assert again.json()["id"] == first.json()["id"]
    refund = first.json()
    assert (refund["payment_id"], refund["status"], refund["amount"]) == (
        payment["id"],
        "succeeded",
        3_000,
    )
    over = await world.client.post(url, json={"amount": 6_001}, headers=tenant.headers)
    assert over.status_code == 422
    rest = await world.client.post(url, json={}, headers=tenant.headers)
    assert rest.json()["amount"] == 6_000
    done = await world.client.post(url, json={}, headers=tenant.headers)
    assert done.status_code == 409
    shown = await world.client.get(f"/v1/billing/payments/{payment['id']}", headers=tenant.headers)
    assert shown.json()["refunded_amount"] == 9_000
    async with world.app.state.db.sessionmaker() as session:
        refunds = list(
            await session.scalars(
                select(LedgerEntry).where(LedgerEntry.refund_of == shown.json()["ledger_entry_id"])
            )
        )
    assert sorted(e.amount for e in refunds) == [3_000, 6_000]
    types = await outbox_types(world.app, tenant)
    assert (types.count("payment.succeeded"), types.count("payment.refunded")) == (1, 2)
    refunded = await outbox_payloads(world.app, tenant, "payment.refunded")
    assert {r["payment_id"] for r in refunded} == {payment["id"]}
    other = await make_tenant(world.app)
    hidden = await world.client.post(url, json={}, headers=other.headers)
    assert hidden.status_code == 404


async def test_a_stripe_refund_is_sent_after_commit_keyed_by_the_refund(world: World) -> None:
    tenant = await make_tenant(world.app)
    invoice = await open_invoice(world, tenant, 2_500)
    payment = (await checkout(world, tenant, invoice["id"], provider="stripe"))["payment"]
    payload = _intent_succeeded(
        payment["provider_payment_id"], 2_500, {"invoice_payment_id": payment["id"]}
    )
    await world.client.post(
        "/v1/providers/stripe/webhook", content=payload, headers=signed(payload)
    )
    refund = await world.client.post(
        f"/v1/billing/payments/{payment['id']}/refunds", json={}, headers=tenant.headers
    )
    assert refund.json()["status"] == "pending"
    runner = EffectRunner(world.app.state.db, services=world.app.state.job_services)
    await runner.run_once(only=["billing.payment_refund"])
    await runner.run_once(only=["billing.payment_refund"])
    listed = await world.client.get(
        f"/v1/billing/payments/{payment['id']}/refunds", headers=tenant.headers
    )
    [done] = listed.json()
    assert done["status"] == "succeeded"
    assert done["provider_refund_id"].startswith("re_fake")
    sent = [
        a
        for a in world.stripe.requests_to("/v1/refunds")
        if a.form["payment_intent"] == payment["provider_payment_id"]
    ]
    assert len({a.headers["idempotency-key"] for a in sent}) == 1


# ------------------------------------------------------------------ wallet top-ups


async def _top_up(world: World, tenant: Tenant, wallet_id: str, **body: Any) -> dict[str, Any]:
    response = await world.client.post(
        f"/v1/wallets/{wallet_id}/topups",
        json=body,
        headers={**tenant.headers, "Idempotency-Key": f"topup-{wallet_id}"},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_cashfree_and_paypal_top_ups_complete_once_by_their_webhooks(world: World) -> None:
    tenant = await make_tenant(world.app)
    rupees = await open_wallet(world.client, tenant.headers, currency="INR")
    started = await _top_up(
        world, tenant, rupees["id"], amount=50_000, minutes=120, provider="cashfree", plan="popular"
    )
    again = await _top_up(
        world, tenant, rupees["id"], amount=50_000, minutes=120, provider="cashfree", plan="popular"
    )
    assert again["transaction"]["id"] == started["transaction"]["id"]  # one order, one entry
    assert started["transaction"]["status"] == "pending"
    assert started["payment_session_id"] == "session_a1b2c3d4e5f6"
    order_id = started["payment_intent"]["id"]
    body = cashfree_event(order_id, "500.00", "INR")
    hook = "/v1/providers/cashfree/webhook"
    forged = await world.client.post(hook, content=body, headers=cashfree_headers(body, secret="x"))
    assert forged.status_code == 400
    answers = await asyncio.gather(
        *[world.client.post(hook, content=body, headers=cashfree_headers(body)) for _ in range(3)]
    )
    assert sorted(a.json()["outcome"] for a in answers) == ["credited", "ignored", "ignored"]
    wallet = await shown(world.client, tenant.headers, rupees["id"])
    assert (wallet["balance"], wallet["balance_minutes"]) == (50_000, 120)
    [entry] = await entries(world.client, tenant.headers, rupees["id"])
    assert (entry["status"], entry["payment_method"]) == ("completed", "cashfree")

    dollars = await open_wallet(
        world.client,
        tenant.headers,
        currency="USD",
        owner_type="user",
        owner_id=tenant.owner_id,
        provider="paypal",
    )
    paypal = await _top_up(world, tenant, dollars["id"], amount=1_500, provider="paypal")
    order_id = paypal["payment_intent"]["id"]
    assert paypal["approval_url"].endswith(order_id)
    approved = paypal_approved(order_id)
    heard = await world.client.post(
        "/v1/providers/paypal/webhook", content=approved, headers=paypal_headers()
    )
    assert heard.json()["outcome"] == "credited"
    assert (await shown(world.client, tenant.headers, dollars["id"]))["balance"] == 1_500
    no_auto = await world.client.patch(
        f"/v1/wallets/{dollars['id']}",
        json={"auto_recharge": True, "auto_recharge_threshold": 100, "auto_recharge_amount": 1000},
        headers=tenant.headers,
    )
    assert no_auto.status_code == 422, no_auto.text
    assert no_auto.json()["errors"][0]["field"] == "auto_recharge"


async def test_a_members_invoice_payment_and_its_refund_are_seed_transactions(
    world: World,
) -> None:
    tenant = await make_tenant(world.app)
    h = tenant.headers
    customer = await world.client.post(
        "/v1/billing/customers", json={"kind": "user", "reference_id": tenant.owner_id}, headers=h
    )
    assert customer.status_code == 201, customer.text
    invoice = await world.client.post(
        "/v1/billing/invoices",
        json={
            "customer_id": customer.json()["id"],
            "currency": "EUR",
            "lines": [{"description": "Workshop", "unit_amount": 9_000}],
            "finalize": True,
        },
        headers=h,
    )
    payment = (
        await checkout(
            world, tenant, invoice.json()["id"], provider="simulator", payment_method="sim_card_ok"
        )
    )["payment"]
    refund = await world.client.post(
        f"/v1/billing/payments/{payment['id']}/refunds", json={"amount": 1_000}, headers=h
    )
    assert refund.status_code == 201, refund.text
    listed = await world.client.get(
        f"/v1/billing/transactions?user_id={tenant.owner_id}", headers=h
    )
    rows = {row["type"]: row for row in listed.json()["data"]}
    assert set(rows) == {"purchase", "refund"}
    assert (rows["purchase"]["amount"], rows["purchase"]["status"]) == (9_000, "completed")
    assert rows["purchase"]["payment_method"] == "simulator"
    assert rows["refund"]["refund_of"] == rows["purchase"]["id"] == payment["ledger_entry_id"]
    assert rows["refund"]["invoice_id"] == invoice.json()["id"]
    assert rows["purchase"]["refunded_amount"] == 1_000
    summary = await world.client.get(f"/v1/billing/summary/{tenant.owner_id}", headers=h)
    [eur] = summary.json()["currencies"]
    assert (eur["purchases"], eur["refunds"], eur["net"]) == (9_000, 1_000, 8_000)


async def test_a_saved_stripe_card_pays_the_period_invoice_once_after_commit(
    world: World,
) -> None:
    tenant = await make_tenant(world.app)
    h = tenant.headers
    monthly = await plan(world.client, h, "stripe-monthly", 2_900)
    customer = await contact_customer(
        world.client, h, "Carla", default_payment_method="pm_card_visa"
    )
    sub = await subscribe(world.client, h, customer["id"], monthly["id"])
    [invoice] = await invoices_of(world.client, h, sub["id"])
    assert invoice["status"] == "open"  # nothing is charged inside the request
    world.stripe.intent_status = "succeeded"  # an off-session confirmation that goes through
    runner = EffectRunner(world.app.state.db, services=world.app.state.job_services)
    await runner.run_once(only=["billing.charge_invoice"])
    await runner.run_once(only=["billing.charge_invoice"])
    [paid] = await invoices_of(world.client, h, sub["id"])
    assert (paid["status"], paid["amount_paid"]) == ("paid", 2_900)
    [payment] = paid["payments"]
    sent = [
        a
        for a in world.stripe.requests_to("/v1/payment_intents")
        if a.form.get("metadata[invoice_id]") == invoice["id"]
    ]
    assert len(sent) == 1
    assert sent[0].form["payment_method"] == "pm_card_visa"
    assert (sent[0].form["off_session"], sent[0].form["confirm"]) == ("true", "true")
    assert sent[0].headers["idempotency-key"].startswith("commbase-invoice-charge-")
    assert payment["provider"] == "stripe"
    assert await ledger_credits(world.app, payment["id"]) == 1
