"""An ``Idempotency-Key`` on a manual top-up or a refund answers for one wallet and one
request: the same key on another wallet of the organization (or another entry, or
another body) is a 422 problem that moves no money and names no other entry, even
once the key's stored response has expired (the service's own check)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from commbase.billing import refunds
from commbase.billing.schemas import RefundCreate
from commbase.core.errors import IdempotencyKeyReused
from commbase.core.idempotency import IdempotencyKey
from tests.billing.factories import entries, open_wallet
from tests.identity.factories import Tenant, make_tenant, principal_for

REUSED = "/problems/idempotency-key-reused"


async def _forget_responses(app: FastAPI) -> None:
    """The middleware's stored responses expire after a day: only the ledger remembers."""
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()


async def _top_up(
    client: httpx.AsyncClient, tenant: Tenant, wallet_id: str, key: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/wallets/{wallet_id}/topups",
        json=body,
        headers={**tenant.headers, "Idempotency-Key": key},
    )


async def _refund(
    client: httpx.AsyncClient, tenant: Tenant, entry_id: str, key: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/transactions/{entry_id}/refunds",
        json=body,
        headers={**tenant.headers, "Idempotency-Key": key},
    )


async def _balance(client: httpx.AsyncClient, tenant: Tenant, wallet_id: str) -> int:
    wallet = await client.get(f"/v1/wallets/{wallet_id}", headers=tenant.headers)
    return int(wallet.json()["balance"])


def _refused_as_reused(response: httpx.Response, *foreign_ids: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(REUSED)
    for foreign in foreign_ids:
        assert foreign not in response.text


@pytest.mark.parametrize("forget", [False, True], ids=["stored response", "ledger only"])
async def test_a_top_up_key_answers_for_its_own_wallet_only(
    app: FastAPI, client: httpx.AsyncClient, forget: bool
) -> None:
    tenant = await make_tenant(app)
    first = await open_wallet(client, tenant.headers)
    second = await open_wallet(client, tenant.headers, owner_type="user", owner_id=tenant.owner_id)
    made = await _top_up(client, tenant, first["id"], "topup-1", amount=500)
    assert made.status_code == 201, made.text
    entry_id = made.json()["transaction"]["id"]
    if forget:
        await _forget_responses(app)

    other_wallet = await _top_up(client, tenant, second["id"], "topup-1", amount=500)
    _refused_as_reused(other_wallet, entry_id)
    assert await _balance(client, tenant, second["id"]) == 0
    assert await entries(client, tenant.headers, second["id"]) == []

    if forget:
        await _forget_responses(app)
    other_body = await _top_up(
        client, tenant, first["id"], "topup-1", amount=500, description="another"
    )
    _refused_as_reused(other_body)
    if forget:
        await _forget_responses(app)
    again = await _top_up(client, tenant, first["id"], "topup-1", amount=500)
    assert again.status_code == 201, again.text
    assert again.json()["transaction"]["id"] == entry_id
    assert await _balance(client, tenant, first["id"]) == 500


async def test_a_refund_key_answers_for_its_own_entry_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    first = await open_wallet(client, tenant.headers, amount=1000)
    second = await open_wallet(
        client, tenant.headers, amount=1000, owner_type="user", owner_id=tenant.owner_id
    )
    [top_up_1] = await entries(client, tenant.headers, first["id"])
    [top_up_2] = await entries(client, tenant.headers, second["id"])
    made = await _refund(client, tenant, top_up_1["id"], "refund-1", amount=300)
    assert made.status_code == 201, made.text
    await _forget_responses(app)

    on_other_wallet = await _refund(client, tenant, top_up_2["id"], "refund-1", amount=300)
    _refused_as_reused(on_other_wallet, made.json()["id"])
    assert await _balance(client, tenant, second["id"]) == 1000
    other_reason = await _refund(
        client, tenant, top_up_1["id"], "refund-1", amount=300, reason="changed my mind"
    )
    _refused_as_reused(other_reason)
    replayed = await _refund(client, tenant, top_up_1["id"], "refund-1", amount=300)
    assert replayed.status_code == 201, replayed.text
    assert replayed.json()["id"] == made.json()["id"]
    assert await _balance(client, tenant, first["id"]) == 700


async def test_a_key_held_in_another_organization_is_never_replayed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """In process a caller may pass any key: one another organization's refund holds
    is refused, naming nothing of that organization."""
    alpha = await make_tenant(app)
    bravo = await make_tenant(app)
    a_wallet = await open_wallet(client, alpha.headers, amount=1000)
    b_wallet = await open_wallet(client, bravo.headers, amount=1000)
    [a_top_up] = await entries(client, alpha.headers, a_wallet["id"])
    [b_top_up] = await entries(client, bravo.headers, b_wallet["id"])
    data = RefundCreate(amount=100)
    async with app.state.db.sessionmaker() as session:
        a_refund = await refunds.refund(
            session,
            principal=principal_for(org_id=alpha.org_id, user_id=alpha.owner_id, role="owner"),
            entry_id=a_top_up["id"],
            data=data,
            idempotency_key="shared-key",
        )
        await session.commit()
    async with app.state.db.sessionmaker() as session:
        with pytest.raises(IdempotencyKeyReused) as refused:
            await refunds.refund(
                session,
                principal=principal_for(org_id=bravo.org_id, user_id=bravo.owner_id, role="owner"),
                entry_id=b_top_up["id"],
                data=data,
                idempotency_key="shared-key",
            )
    assert a_refund.id not in repr((refused.value.detail, refused.value.extensions))
    assert await _balance(client, bravo, b_wallet["id"]) == 1000
