"""Refunds of call charges and top-ups: linked, whole or partial, never more than the
original, idempotent with the key stored on the refund row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete

from commbase.billing import refunds
from commbase.billing.schemas import RefundCreate
from commbase.core.errors import CommbaseError
from commbase.core.idempotency import IdempotencyKey
from commbase.core.time import FrozenClock, use_clock
from tests.billing.factories import entries, open_wallet, shown
from tests.calls.factories import ANSWERED_94S, place, run_clock
from tests.identity.factories import Tenant, make_tenant, principal_for


async def _refund(
    client: httpx.AsyncClient, tenant: Tenant, entry_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = dict(tenant.headers)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(f"/v1/transactions/{entry_id}/refunds", json=body, headers=headers)


async def test_a_call_charge_is_refunded_in_money_and_package_minutes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(clock):
        # One package minute: the 2-minute call spends it and pays one minute in money.
        wallet = await open_wallet(client, tenant.headers, amount=1000, minutes=1)
        call = (await place(client, tenant.headers, ANSWERED_94S)).json()
        await run_clock(app, clock, 110, step=5)
    [charge] = [
        e for e in await entries(client, tenant.headers, wallet["id"]) if e["type"] == "debit"
    ]
    assert (charge["amount"], charge["minutes"]) == (13, 1)  # 0.125 rounds half up

    refunded = await _refund(client, tenant, charge["id"], reason="dropped line")
    assert refunded.status_code == 201, refunded.text
    body = refunded.json()
    assert (body["type"], body["category"], body["status"]) == (
        "refund",
        "call_refund",
        "completed",
    )
    assert (body["refund_of"], body["related_call_id"]) == (charge["id"], call["id"])
    assert (body["amount"], body["minutes"]) == (13, 1)
    assert (body["balance_before"], body["balance_after"]) == (987, 1000)
    assert (body["description"], body["payment_method"]) == ("dropped line", "admin")
    after = await shown(client, tenant.headers, wallet["id"])
    assert (after["balance"], after["balance_minutes"]) == (1000, 1)
    original = (await client.get(f"/v1/transactions/{charge['id']}", headers=tenant.headers)).json()
    assert (original["refunded_amount"], original["refunded_minutes"]) == (13, 1)

    again = await _refund(client, tenant, charge["id"])
    assert again.status_code == 409
    assert (await shown(client, tenant.headers, wallet["id"]))["balance"] == 1000


async def test_partial_refunds_of_a_top_up_never_exceed_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, amount=1500, minutes=60)
    [top_up] = await entries(client, tenant.headers, wallet["id"])

    first = await _refund(client, tenant, top_up["id"], amount=500)
    assert first.status_code == 201, first.text
    assert (first.json()["category"], first.json()["amount"], first.json()["minutes"]) == (
        "topup_refund",
        500,
        0,
    )
    assert (first.json()["balance_before"], first.json()["balance_after"]) == (1500, 1000)
    too_much = await _refund(client, tenant, top_up["id"], amount=1001)
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["field"] == "amount"
    assert too_much.json()["refundable"] == 1000
    too_many_minutes = await _refund(client, tenant, top_up["id"], minutes=61)
    assert too_many_minutes.status_code == 422
    nothing = await _refund(client, tenant, top_up["id"], amount=0)
    assert nothing.status_code == 422
    rest = await _refund(client, tenant, top_up["id"])  # the rest: 1000 and 60 minutes
    assert rest.status_code == 201, rest.text
    assert (rest.json()["amount"], rest.json()["minutes"]) == (1000, 60)
    assert (await _refund(client, tenant, top_up["id"], amount=1)).status_code == 422

    after = await shown(client, tenant.headers, wallet["id"])
    assert (after["balance"], after["balance_minutes"]) == (0, 0)
    linked = (
        await client.get(f"/v1/transactions?refund_of={top_up['id']}", headers=tenant.headers)
    ).json()["data"]
    assert sorted(r["amount"] for r in linked) == [500, 1000]


async def test_a_top_up_already_spent_cannot_be_taken_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, amount=1000)
    [top_up] = await entries(client, tenant.headers, wallet["id"])
    spent = await client.post(
        f"/v1/wallets/{wallet['id']}/adjustments",
        json={"amount": -800, "reason": "spent"},
        headers=tenant.headers,
    )
    assert spent.status_code == 201
    refused = await _refund(client, tenant, top_up["id"])
    assert refused.status_code == 402
    original = (await client.get(f"/v1/transactions/{top_up['id']}", headers=tenant.headers)).json()
    assert original["refunded_amount"] == 0
    assert (await _refund(client, tenant, top_up["id"], amount=200)).status_code == 201
    # Adjustments and refunds themselves are not refundable.
    assert (await _refund(client, tenant, spent.json()["id"])).status_code == 409


async def test_a_refund_key_gives_one_refund_even_when_the_stored_response_was_lost(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, amount=1500)
    [top_up] = await entries(client, tenant.headers, wallet["id"])
    first = await _refund(client, tenant, top_up["id"], key="refund-1", amount=300)
    assert first.status_code == 201
    replayed = await _refund(client, tenant, top_up["id"], key="refund-1", amount=300)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json()["id"] == first.json()["id"]
    # The process died after the refund committed but before the middleware stored
    # the response: the key on the refund row still answers.
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    retried = await _refund(client, tenant, top_up["id"], key="refund-1", amount=300)
    assert retried.status_code == 201
    assert retried.json()["id"] == first.json()["id"]
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    other_body = await _refund(client, tenant, top_up["id"], key="refund-1", amount=301)
    assert other_body.status_code == 422
    assert other_body.json()["type"] == "/problems/idempotency-key-reused"
    refunds_made = [
        e for e in await entries(client, tenant.headers, wallet["id"]) if e["type"] == "refund"
    ]
    assert len(refunds_made) == 1
    assert (await shown(client, tenant.headers, wallet["id"]))["balance"] == 1200


async def test_concurrent_refunds_stop_at_the_original_amount(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, amount=1500)
    [top_up] = await entries(client, tenant.headers, wallet["id"])
    principal = principal_for(org_id=tenant.org_id, user_id=tenant.owner_id, role="owner")

    refused: list[int] = []

    async def one(n: int) -> bool:
        async with app.state.db.sessionmaker() as session:
            try:
                await refunds.refund(
                    session,
                    principal=principal,
                    entry_id=top_up["id"],
                    data=RefundCreate(amount=200),
                    idempotency_key=f"concurrent-{top_up['id']}-{n}",
                )
            except CommbaseError as exc:
                refused.append(exc.status)
                await session.rollback()
                return False
            await session.commit()
            return True

    done = await asyncio.gather(*(one(n) for n in range(12)))
    assert sum(done) == 7
    assert set(refused) <= {409, 422}
    original = (await client.get(f"/v1/transactions/{top_up['id']}", headers=tenant.headers)).json()
    assert original["refunded_amount"] == 1400
    assert (await shown(client, tenant.headers, wallet["id"]))["balance"] == 100
