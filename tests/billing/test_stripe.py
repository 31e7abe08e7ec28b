"""Stripe through its real SDK, pointed at a local server that answers like Stripe:
pending top-ups settled by signed webhooks, automatic recharges and refunds charged
after commit with idempotency keys, and test credentials kept in test mode."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import delete

from commbase.analytics.rollup import fold
from commbase.billing import effects
from commbase.core.effects import EffectRunner
from commbase.core.idempotency import IdempotencyKey
from commbase.core.time import FrozenClock, use_clock
from commbase.settings import Settings
from tests.billing.factories import (
    LIVE_KEY,
    SANDBOX_KEY,
    TEST_WEBHOOK_SECRET,
    entries,
    intent_event,
    open_wallet,
    running,
    sandbox_headers,
    shown,
    signed,
    stripe_settings,
)
from tests.billing.stripe_fake import FakeStripe, fake_stripe
from tests.calls.factories import outbox_types
from tests.conftest import client_for
from tests.identity.factories import Tenant, make_tenant

INTENTS = "/v1/payment_intents"
# The stripe SDK's HTTPX transport posts its form body as ``data=`` text.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    fake: FakeStripe
    settings: Settings
    tenant: Tenant

    async def webhook(self, payload: str, **sign: str) -> httpx.Response:
        return await self.client.post(
            "/v1/providers/stripe/webhook", content=payload, headers=signed(payload, **sign)
        )

    async def run_effects(self, consumer: str) -> int:
        runner = EffectRunner(self.app.state.db, services={"settings": self.settings})
        return await runner.run_once(only=[consumer])


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with fake_stripe() as server:
        yield server


@pytest.fixture
async def paying(settings: Settings, fake: FakeStripe) -> AsyncIterator[Stack]:
    configured = stripe_settings(settings, fake.url)
    async with running(configured) as app, client_for(app) as client:
        yield Stack(app, client, fake, configured, await make_tenant(app))


async def _stripe_wallet(paying: Stack, **body: Any) -> dict[str, Any]:
    return await open_wallet(
        paying.client,
        paying.tenant.headers,
        provider="stripe",
        **body,
    )


async def test_a_stripe_top_up_is_pending_until_stripe_reports_the_payment(paying: Stack) -> None:
    wallet = await _stripe_wallet(paying)
    headers = {**paying.tenant.headers, "Idempotency-Key": "topup-1"}
    started = await paying.client.post(
        f"/v1/wallets/{wallet['id']}/topups",
        json={"provider": "stripe", "amount": 1500, "minutes": 60, "plan": "popular"},
        headers=headers,
    )
    assert started.status_code == 201, started.text
    body = started.json()
    intent_id = body["payment_intent"]["id"]
    assert body["payment_intent"]["client_secret"].startswith(intent_id)
    assert (body["transaction"]["status"], body["transaction"]["amount"]) == ("pending", 1500)
    assert body["transaction"]["provider_transaction_id"] == intent_id
    [arrived] = paying.fake.requests_to(INTENTS)
    assert arrived.api_key == LIVE_KEY
    assert (arrived.form["amount"], arrived.form["currency"]) == ("1500", "usd")
    assert arrived.form["metadata[wallet_id]"] == wallet["id"]
    assert arrived.headers["idempotency-key"].startswith("commbase-topup-")
    # Nothing moved yet.
    assert (await shown(paying.client, paying.tenant.headers, wallet["id"]))["balance"] == 0

    # The response was lost with the middleware's record: the retry gets the same
    # intent (Stripe replays it for the same key) and the same pending entry.
    async with paying.app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    retried = await paying.client.post(
        f"/v1/wallets/{wallet['id']}/topups",
        json={"provider": "stripe", "amount": 1500, "minutes": 60, "plan": "popular"},
        headers=headers,
    )
    assert retried.json()["transaction"]["id"] == body["transaction"]["id"]
    assert paying.fake.objects_created(INTENTS) == 1

    succeeded = intent_event(
        "payment_intent.succeeded",
        intent_id,
        wallet_id=wallet["id"],
        org_id=paying.tenant.org_id,
        amount=1500,
    )
    for _ in range(3):  # Stripe retries
        answer = await paying.webhook(succeeded)
        assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "ignored"
    shown_wallet = await shown(paying.client, paying.tenant.headers, wallet["id"])
    assert (shown_wallet["balance"], shown_wallet["balance_minutes"]) == (1500, 60)
    [entry] = await entries(paying.client, paying.tenant.headers, wallet["id"])
    assert (entry["id"], entry["status"]) == (body["transaction"]["id"], "completed")
    assert (entry["balance_before"], entry["balance_after"], entry["plan"]) == (0, 1500, "popular")
    assert entry["completed_at"] is not None


async def test_a_failed_payment_is_a_failed_entry_with_stripes_error(paying: Stack) -> None:
    wallet = await _stripe_wallet(paying)
    started = await paying.client.post(
        f"/v1/wallets/{wallet['id']}/topups",
        json={"provider": "stripe", "amount": 900},
        headers=paying.tenant.headers,
    )
    intent_id = started.json()["payment_intent"]["id"]
    failed = intent_event(
        "payment_intent.payment_failed",
        intent_id,
        wallet_id=wallet["id"],
        org_id=paying.tenant.org_id,
        amount=900,
        error={"code": "card_declined", "decline_code": "insufficient_funds", "message": "No."},
    )
    answer = await paying.webhook(failed)
    assert answer.json()["outcome"] == "failed"
    [entry] = await entries(paying.client, paying.tenant.headers, wallet["id"])
    assert (entry["status"], entry["error_code"], entry["error_message"]) == (
        "failed",
        "insufficient_funds",
        "No.",
    )
    # A late success report for a failed payment changes nothing.
    late = intent_event(
        "payment_intent.succeeded",
        intent_id,
        wallet_id=wallet["id"],
        org_id=paying.tenant.org_id,
        amount=900,
    )
    assert (await paying.webhook(late)).json()["outcome"] == "ignored"
    assert (await shown(paying.client, paying.tenant.headers, wallet["id"]))["balance"] == 0
    assert "wallet.payment_failed" in await outbox_types(paying.app, paying.tenant)


def _expected_key(purpose: str, source: str) -> str:
    return f"commbase-{purpose}-{hashlib.sha256(source.encode()).hexdigest()[:48]}"


async def _recharging_wallet(paying: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Stripe wallet with a saved card, funded by hand, and a debit that takes it
    under its recharge threshold; returns the wallet and that debit."""
    wallet = await _stripe_wallet(
        paying,
        amount=1500,
        auto_recharge=True,
        auto_recharge_threshold=1000,
        auto_recharge_amount=2000,
    )
    saved = await paying.client.patch(
        f"/v1/wallets/{wallet['id']}",
        json={"provider_customer_id": "cus_1", "provider_payment_method_id": "pm_1"},
        headers=paying.tenant.headers,
    )
    assert saved.status_code == 200, saved.text
    spent = await paying.client.post(
        f"/v1/wallets/{wallet['id']}/adjustments",
        json={"amount": -600, "reason": "usage"},
        headers=paying.tenant.headers,
    )
    assert spent.status_code == 201
    return wallet, spent.json()


async def test_a_recharge_consumer_run_twice_charges_once_with_an_idempotency_key(
    paying: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(clock):
        wallet, trigger = await _recharging_wallet(paying)
        ledger = await entries(paying.client, paying.tenant.headers, wallet["id"])
        [pending] = [e for e in ledger if e["status"] == "pending"]
        assert (pending["status"], pending["amount"], pending["payment_method"]) == (
            "pending",
            2000,
            "stripe",
        )
        # Committed, but nothing was charged inside the transaction.
        assert paying.fake.requests_to(INTENTS) == []

        # The first run reaches Stripe, then its process dies before it records the
        # outcome; the event is retried later and Stripe sees the same key again.
        real_settle = effects._settle
        crashes = [RuntimeError("process died")]

        async def settle_then_maybe_crash(*args: Any, **kwargs: Any) -> None:
            if crashes:
                raise crashes.pop()
            await real_settle(*args, **kwargs)

        monkeypatch.setattr(effects, "_settle", settle_then_maybe_crash)
        assert await paying.run_effects(effects.RECHARGE) == 1
        assert len(paying.fake.requests_to(INTENTS)) == 1
        assert (await shown(paying.client, paying.tenant.headers, wallet["id"]))["balance"] == 900
        clock.advance(30)
        assert await paying.run_effects(effects.RECHARGE) == 1
        assert await paying.run_effects(effects.RECHARGE) == 0

    arrived = paying.fake.requests_to(INTENTS)
    assert len(arrived) == 2
    keys = {a.headers["idempotency-key"] for a in arrived}
    assert keys == {_expected_key("recharge", trigger["id"])}
    assert paying.fake.objects_created(INTENTS) == 1
    form = arrived[0].form
    assert arrived[0].api_key == LIVE_KEY
    assert (form["amount"], form["currency"], form["customer"], form["payment_method"]) == (
        "2000",
        "usd",
        "cus_1",
        "pm_1",
    )
    assert (form["confirm"], form["off_session"]) == ("true", "true")
    assert form["metadata[ledger_entry_id]"] == pending["id"]

    after = await shown(paying.client, paying.tenant.headers, wallet["id"])
    assert after["balance"] == 900 + 2000
    settled = (
        await paying.client.get(f"/v1/transactions/{pending['id']}", headers=paying.tenant.headers)
    ).json()
    assert (settled["status"], settled["balance_before"], settled["balance_after"]) == (
        "completed",
        900,
        2900,
    )
    assert settled["provider_transaction_id"].startswith("pi_fake")
    # Stripe's own report of the same payment, arriving later, changes nothing.
    late = intent_event(
        "payment_intent.succeeded",
        settled["provider_transaction_id"],
        wallet_id=wallet["id"],
        org_id=paying.tenant.org_id,
        amount=2000,
        metadata={"ledger_entry_id": pending["id"]},
    )
    assert (await paying.webhook(late)).json()["outcome"] == "ignored"
    assert (await shown(paying.client, paying.tenant.headers, wallet["id"]))["balance"] == 2900
    assert (await outbox_types(paying.app, paying.tenant)).count("wallet.recharged") == 1


async def test_a_declined_recharge_is_a_failed_entry(paying: Stack) -> None:
    wallet, _ = await _recharging_wallet(paying)
    paying.fake.decline = "insufficient_funds"
    assert await paying.run_effects(effects.RECHARGE) == 1
    ledger = await entries(paying.client, paying.tenant.headers, wallet["id"])
    [entry] = [e for e in ledger if e["payment_method"] == "stripe"]
    assert (entry["status"], entry["error_code"]) == ("failed", "insufficient_funds")
    assert entry["error_message"] == "Your card was declined."
    assert (await shown(paying.client, paying.tenant.headers, wallet["id"]))["balance"] == 900


async def _paid_top_up(paying: Stack, wallet: dict[str, Any], amount: int) -> dict[str, Any]:
    started = await paying.client.post(
        f"/v1/wallets/{wallet['id']}/topups",
        json={"provider": "stripe", "amount": amount},
        headers=paying.tenant.headers,
    )
    intent_id = started.json()["payment_intent"]["id"]
    paid = intent_event(
        "payment_intent.succeeded",
        intent_id,
        wallet_id=wallet["id"],
        org_id=paying.tenant.org_id,
        amount=amount,
    )
    assert (await paying.webhook(paid)).json()["outcome"] == "credited"
    entry: dict[str, Any] = started.json()["transaction"]
    return entry


async def test_a_stripe_top_up_is_refunded_to_the_card_after_commit(paying: Stack) -> None:
    wallet = await _stripe_wallet(paying)
    top_up = await _paid_top_up(paying, wallet, 1500)
    asked = await paying.client.post(
        f"/v1/transactions/{top_up['id']}/refunds",
        json={"amount": 500},
        headers=paying.tenant.headers,
    )
    assert asked.status_code == 201, asked.text
    assert (asked.json()["status"], asked.json()["payment_method"]) == ("pending", "stripe")
    held = await shown(paying.client, paying.tenant.headers, wallet["id"])
    assert (held["balance"], held["held"], held["available"]) == (1500, 500, 1000)
    assert paying.fake.requests_to("/v1/refunds") == []

    assert await paying.run_effects(effects.STRIPE_REFUND) == 1
    [sent] = paying.fake.requests_to("/v1/refunds")
    assert (sent.form["payment_intent"], sent.form["amount"]) == (
        top_up["provider_transaction_id"],
        "500",
    )
    assert sent.headers["idempotency-key"] == _expected_key("refund", asked.json()["id"])
    done = (
        await paying.client.get(
            f"/v1/transactions/{asked.json()['id']}", headers=paying.tenant.headers
        )
    ).json()
    assert (done["status"], done["balance_before"], done["balance_after"]) == (
        "completed",
        1500,
        1000,
    )
    assert done["provider_transaction_id"].startswith("re_fake")
    after = await shown(paying.client, paying.tenant.headers, wallet["id"])
    assert (after["balance"], after["held"]) == (1000, 0)

    # A refund Stripe cannot make fails, gives the hold back and frees the amount.
    paying.fake.refund_status = "failed"
    second = await paying.client.post(
        f"/v1/transactions/{top_up['id']}/refunds", json={}, headers=paying.tenant.headers
    )
    assert second.json()["amount"] == 1000
    assert await paying.run_effects(effects.STRIPE_REFUND) == 1
    failed = (
        await paying.client.get(
            f"/v1/transactions/{second.json()['id']}", headers=paying.tenant.headers
        )
    ).json()
    assert (failed["status"], failed["error_code"]) == ("failed", "expired_or_canceled_card")
    after = await shown(paying.client, paying.tenant.headers, wallet["id"])
    assert (after["balance"], after["held"]) == (1000, 0)
    original = (
        await paying.client.get(f"/v1/transactions/{top_up['id']}", headers=paying.tenant.headers)
    ).json()
    assert original["refunded_amount"] == 500


async def test_test_credentials_pay_only_in_stripes_test_mode(
    paying: Stack, settings: Settings
) -> None:
    sandbox = await sandbox_headers(paying.client, paying.tenant.headers)
    test_wallet = await open_wallet(
        paying.client, sandbox, owner_type="user", owner_id=paying.tenant.owner_id
    )
    assert test_wallet["livemode"] is False
    started = await paying.client.post(
        f"/v1/wallets/{test_wallet['id']}/topups",
        json={"provider": "stripe", "amount": 700},
        headers=sandbox,
    )
    assert started.status_code == 201, started.text
    [arrived] = paying.fake.requests_to(INTENTS)
    assert arrived.api_key == SANDBOX_KEY
    # Even a live key pays into a test wallet through test mode.
    live_on_test = await paying.client.post(
        f"/v1/wallets/{test_wallet['id']}/topups",
        json={"provider": "stripe", "amount": 800},
        headers=paying.tenant.headers,
    )
    assert live_on_test.status_code == 201
    assert [a.api_key for a in paying.fake.requests_to(INTENTS)] == [SANDBOX_KEY, SANDBOX_KEY]
    # A test key cannot pay into a live wallet at all.
    live_wallet = await _stripe_wallet(paying)
    refused = await paying.client.post(
        f"/v1/wallets/{live_wallet['id']}/topups",
        json={"provider": "stripe", "amount": 700},
        headers=sandbox,
    )
    assert refused.status_code == 403
    assert len(paying.fake.requests_to(INTENTS)) == 2

    # Test-mode events (signed with the test endpoint's secret) settle test wallets
    # only; a live-mode event cannot credit a test wallet.
    intent_id = started.json()["payment_intent"]["id"]
    live_event = intent_event(
        "payment_intent.succeeded",
        intent_id,
        wallet_id=test_wallet["id"],
        org_id=paying.tenant.org_id,
        amount=700,
        livemode=True,
    )
    assert (await paying.webhook(live_event)).json()["outcome"] == "ignored"
    test_event = intent_event(
        "payment_intent.succeeded",
        intent_id,
        wallet_id=test_wallet["id"],
        org_id=paying.tenant.org_id,
        amount=700,
        livemode=False,
    )
    forged_live = await paying.webhook(live_event, secret=TEST_WEBHOOK_SECRET)
    assert forged_live.status_code == 400
    assert (await paying.webhook(test_event, secret=TEST_WEBHOOK_SECRET)).json()[
        "outcome"
    ] == "credited"
    assert (await shown(paying.client, sandbox, test_wallet["id"]))["balance"] == 700

    # Without a test-mode key, test payments are refused, never sent with the live key.
    unconfigured = stripe_settings(settings, paying.fake.url, stripe_test_api_key=None)
    async with running(unconfigured) as app, client_for(app) as client:
        answer = await client.post(
            f"/v1/wallets/{test_wallet['id']}/topups",
            json={"provider": "stripe", "amount": 700},
            headers=sandbox,
        )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "provider"
    assert "COMMBASE_STRIPE_TEST_API_KEY" in answer.json()["detail"]
    assert len(paying.fake.requests_to(INTENTS)) == 2
    with pytest.raises(ValidationError):
        stripe_settings(settings, paying.fake.url, stripe_test_api_key="sk_live_oops")


async def test_a_payment_settled_hours_later_counts_in_analytics(paying: Stack) -> None:
    """Its hour was folded while it was pending; settling it changes the entry, so the
    rollup folds that hour again."""
    clock = FrozenClock(datetime(2026, 6, 10, 10, 0, tzinfo=UTC))
    with use_clock(clock):
        wallet = await _stripe_wallet(paying)
        started = await paying.client.post(
            f"/v1/wallets/{wallet['id']}/topups",
            json={"provider": "stripe", "amount": 1500},
            headers=paying.tenant.headers,
        )
        intent_id = started.json()["payment_intent"]["id"]
        clock.advance(3 * 3600)
        await fold(paying.app.state.db, now=clock.now(), lag=timedelta(seconds=60))
        before = await paying.client.get("/v1/analytics/realtime", headers=paying.tenant.headers)
        assert before.json()["revenue"]["topups"] == 0
        paid = intent_event(
            "payment_intent.succeeded",
            intent_id,
            wallet_id=wallet["id"],
            org_id=paying.tenant.org_id,
            amount=1500,
        )
        assert (await paying.webhook(paid)).json()["outcome"] == "credited"
        clock.advance(120)
        await fold(paying.app.state.db, now=clock.now(), lag=timedelta(seconds=60))
        after = await paying.client.get("/v1/analytics/realtime", headers=paying.tenant.headers)
    assert after.json()["revenue"]["topups"] == 1500


async def test_a_test_wallets_recharge_goes_to_test_mode_or_nowhere(
    paying: Stack, settings: Settings
) -> None:
    sandbox = await sandbox_headers(paying.client, paying.tenant.headers)
    wallets = []
    for owner in (paying.tenant.owner_id, None):
        body: dict[str, Any] = {"owner_type": "user", "owner_id": owner} if owner else {}
        wallet = await open_wallet(
            paying.client,
            sandbox,
            amount=1500,
            provider="stripe",
            auto_recharge=True,
            auto_recharge_threshold=1000,
            auto_recharge_amount=2000,
            **body,
        )
        path = f"/v1/wallets/{wallet['id']}"
        card = {"provider_customer_id": "cus_t", "provider_payment_method_id": "pm_t"}
        assert (await paying.client.patch(path, json=card, headers=sandbox)).status_code == 200
        spent = await paying.client.post(
            f"{path}/adjustments", json={"amount": -600, "reason": "usage"}, headers=sandbox
        )
        assert spent.status_code == 201
        wallets.append(wallet)
        if owner:  # the first recharge runs with the test-mode key configured
            assert await paying.run_effects(effects.RECHARGE) == 1
    [arrived] = paying.fake.requests_to(INTENTS)
    assert arrived.api_key == SANDBOX_KEY
    assert (await shown(paying.client, sandbox, wallets[0]["id"]))["balance"] == 2900

    # Without a test-mode key the second recharge fails at once; live Stripe never hears of it.
    unconfigured = stripe_settings(settings, paying.fake.url, stripe_test_api_key=None)
    runner = EffectRunner(paying.app.state.db, services={"settings": unconfigured})
    assert await runner.run_once(only=[effects.RECHARGE]) == 1
    assert len(paying.fake.requests_to(INTENTS)) == 1
    ledger = await entries(paying.client, sandbox, wallets[1]["id"])
    [failed] = [e for e in ledger if e["payment_method"] == "stripe"]
    assert (failed["status"], failed["error_code"]) == ("failed", "provider_not_configured")
    assert (await shown(paying.client, sandbox, wallets[1]["id"]))["balance"] == 900
