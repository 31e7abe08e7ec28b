"""A usage-priced add-on bills the period that ended on the renewal invoice: its meter
counted from the metric registry (here the customer organization's billed call
minutes), times its price; it adds nothing to MRR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    addon,
    billing_app,
    created,
    invoices_of,
    module_app,
    module_client,
    plan,
    renew,
    subscribe,
)
from tests.calls.factories import ANSWERED_94S, BUSY, fund_wallet, place, run_clock
from tests.identity.factories import make_tenant

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(START)
    with use_clock(frozen):
        yield frozen


async def test_usage_is_billed_on_the_renewal_invoice(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    seller, buyer = await make_tenant(app), await make_tenant(app)
    h = seller.headers
    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": seller.org_id}},
        headers=buyer.headers,
    )
    await fund_wallet(client, buyer.headers, amount=50_000)
    customer = await created(
        client, h, "/v1/billing/customers", kind="organization", reference_id=buyer.org_id
    )
    base = await plan(client, h, "base", 1000)
    for body in ({"pricing": "usage"}, {"pricing": "flat", "usage_meter": "calls"}):
        refused = await client.post(
            "/v1/billing/addons",
            json={"code": "bad", "name": "Bad", "amount": 5, "currency": "USD", **body},
            headers=h,
        )
        assert refused.status_code == 422, refused.text
    minutes = await addon(
        client, h, "minutes", 5, category="usage", pricing="usage", usage_meter="call_minutes"
    )
    assert minutes["usage_meter"] == "call_minutes"
    sub = await subscribe(
        client, h, customer["id"], base["id"], addons=[{"addon_id": minutes["id"]}]
    )
    first = (await invoices_of(client, h, sub["id"]))[0]
    assert [line["kind"] for line in first["lines"]] == ["plan"]  # nothing used yet
    mrr = (await client.get("/v1/billing/mrr", headers=h)).json()["data"]
    assert mrr == [{"currency": "USD", "mrr": 1000, "arr": 12_000, "paying_subscriptions": 1}]

    clock.advance(60)
    calls = [(await place(client, buyer.headers, to)).json()["id"] for to in (ANSWERED_94S, BUSY)]
    calls.append((await place(client, buyer.headers, ANSWERED_94S)).json()["id"])
    await run_clock(app, clock, 200)
    billed = [
        (await client.get(f"/v1/calls/{i}", headers=buyer.headers)).json()["billable_minutes"]
        for i in calls
    ]
    used = sum(m or 0 for m in billed)
    assert used > 0

    clock.set(datetime(2026, 12, 20, 10, 0, 30, tzinfo=UTC))  # the next period has begun
    await place(client, buyer.headers, ANSWERED_94S)  # next period's usage
    await run_clock(app, clock, 200)
    assert await renew(app, seller.org_id) == 1
    invoices = await invoices_of(client, h, sub["id"])
    assert len(invoices) == 2
    usage = [line for line in invoices[1]["lines"] if line["kind"] == "usage"]
    assert len(usage) == 1
    line = usage[0]
    assert (line["addon_id"], line["quantity"], line["unit_amount"], line["amount"]) == (
        minutes["id"],
        used,
        5,
        5 * used,
    )
    assert (line["period_start"][:10], line["period_end"][:10]) == ("2026-11-20", "2026-12-20")
    assert invoices[1]["subtotal"] == 1000 + 5 * used
