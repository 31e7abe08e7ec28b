"""Dunning with the offline simulator provider: a renewal invoice is charged to the
saved payment method after commit; a declined charge makes the subscription
past_due and follows its plan's retry days, then cancels or pauses it; a retry that
succeeds makes it active again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.billing.providers import dunning
from commbase.core.effects import EffectRunner
from commbase.core.time import FrozenClock, use_clock, utcnow
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    contact_customer,
    invoices_of,
    module_app,
    module_client,
    plan,
    renew,
    subscribe,
)
from tests.identity.factories import Tenant, make_tenant

START = datetime(2026, 3, 1, tzinfo=UTC)
RENEWAL = datetime(2026, 4, 1, 0, 5, tzinfo=UTC)
_plans = count(1)


async def charge(app: FastAPI) -> int:
    runner = EffectRunner(app.state.db, services=app.state.job_services)
    return await runner.run_once(only=["billing.charge_invoice"])


async def retry_due(app: FastAPI, org_id: str) -> int:
    asked = await dunning.request_retries(app.state.db, now=utcnow(), org_id=org_id)
    await charge(app)
    return asked


async def subscription(client: httpx.AsyncClient, tenant: Tenant, sub_id: str) -> Any:
    return (await client.get(f"/v1/billing/subscriptions/{sub_id}", headers=tenant.headers)).json()


async def payments(client: httpx.AsyncClient, tenant: Tenant, invoice_id: str) -> list[Any]:
    listed = await client.get(
        f"/v1/billing/payments?invoice_id={invoice_id}", headers=tenant.headers
    )
    assert listed.status_code == 200, listed.text
    return list(reversed(listed.json()["data"]))


async def renewed_with_a_declined_card(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FrozenClock,
    *,
    retry_days: list[int],
    final_action: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A subscription whose first period the saved card paid, renewed once the card
    was declined: the subscription, its customer and the renewal invoice."""
    h = tenant.headers
    monthly = await plan(client, h, f"team{next(_plans)}", 3000)
    dunning_set = await client.put(
        f"/v1/billing/plans/{monthly['id']}/dunning",
        json={"retry_days": retry_days, "final_action": final_action},
        headers=h,
    )
    assert dunning_set.status_code == 200, dunning_set.text
    customer = await contact_customer(client, h, default_payment_method="sim_card_ok")
    sub = await subscribe(client, h, customer["id"], monthly["id"])
    await charge(app)
    [first] = await invoices_of(client, h, sub["id"])
    assert first["status"] == "paid"  # the saved card paid the first period after commit
    changed = await client.patch(
        f"/v1/billing/customers/{customer['id']}",
        json={"default_payment_method": "sim_card_declined"},
        headers=h,
    )
    assert changed.status_code == 200, changed.text
    clock.set(RENEWAL)
    assert await renew(app, tenant.org_id) == 1
    await charge(app)
    [_, renewal] = await invoices_of(client, h, sub["id"])
    return sub, customer, renewal


async def test_declined_renewals_go_past_due_retry_on_schedule_then_cancel(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(START)
    with use_clock(clock):
        sub, _, renewal = await renewed_with_a_declined_card(
            app, client, tenant, clock, retry_days=[1, 3], final_action="cancel"
        )
        assert renewal["status"] == "open"
        [failed] = await payments(client, tenant, renewal["id"])
        assert (failed["status"], failed["failure_code"], failed["automatic"]) == (
            "failed",
            "card_declined",
            True,
        )
        assert (await subscription(client, tenant, sub["id"]))["status"] == "past_due"

        clock.set(RENEWAL + timedelta(hours=23))
        assert await retry_due(app, tenant.org_id) == 0  # not yet: a day after the failure
        clock.set(RENEWAL + timedelta(days=1, minutes=1))
        assert await retry_due(app, tenant.org_id) == 1
        assert await retry_due(app, tenant.org_id) == 0  # asked once, however often it runs
        assert len(await payments(client, tenant, renewal["id"])) == 2
        assert (await subscription(client, tenant, sub["id"]))["status"] == "past_due"

        clock.set(RENEWAL + timedelta(days=3, minutes=2))
        assert await retry_due(app, tenant.org_id) == 1
        ended = await subscription(client, tenant, sub["id"])
        assert (ended["status"], ended["cancellation_reason"]) == ("cancelled", "payment_failed")
        statuses = [p["status"] for p in await payments(client, tenant, renewal["id"])]
        assert statuses == ["failed", "failed", "failed"]
        clock.set(RENEWAL + timedelta(days=30))
        assert await retry_due(app, tenant.org_id) == 0


async def test_a_successful_retry_makes_it_active_and_an_exhausted_one_pauses(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(START)
    with use_clock(clock):
        sub, customer, renewal = await renewed_with_a_declined_card(
            app, client, tenant, clock, retry_days=[2], final_action="pause"
        )
        assert (await subscription(client, tenant, sub["id"]))["status"] == "past_due"
        # The customer saves a working card; the retry two days later pays.
        await client.patch(
            f"/v1/billing/customers/{customer['id']}",
            json={"default_payment_method": "sim_card_ok"},
            headers=tenant.headers,
        )
        clock.set(RENEWAL + timedelta(days=2, minutes=1))
        assert await retry_due(app, tenant.org_id) == 1
        back = await subscription(client, tenant, sub["id"])
        assert back["status"] == "active"
        [_, paid] = await invoices_of(client, tenant.headers, sub["id"])
        assert (paid["status"], paid["amount_paid"]) == ("paid", renewal["total"])
        assert [p["status"] for p in await payments(client, tenant, renewal["id"])] == [
            "failed",
            "succeeded",
        ]

    other = await make_tenant(app)
    clock = FrozenClock(START)
    with use_clock(clock):
        sub, _, _ = await renewed_with_a_declined_card(
            app, client, other, clock, retry_days=[1], final_action="pause"
        )
        clock.set(RENEWAL + timedelta(days=1, minutes=1))
        assert await retry_due(app, other.org_id) == 1
        paused = await subscription(client, other, sub["id"])
        assert (paused["status"], paused["mrr"]) == ("paused", 0)
