"""Licenses: a subscription's seats assigned to members of the customer organization,
with history; what the plan gates is refused without a live license."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

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


async def test_seats_are_assigned_counted_and_gate_the_plans_features(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seller = await make_tenant(app)
    buyer = await make_tenant(app)
    h = seller.headers
    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": seller.org_id}},
        headers=buyer.headers,
    )
    customer = await created(
        client, h, "/v1/billing/customers", kind="organization", reference_id=buyer.org_id
    )
    team = await plan(client, h, "team", 2000, pricing="per_seat", features=["video"])
    sub = await subscribe(client, h, customer["id"], team["id"], quantity=2)
    ana, bo, cy = [(await add_member(app, buyer, role=Role.AGENT))[0] for _ in range(3)]
    seats = f"/v1/billing/subscriptions/{sub['id']}/licenses"

    async def entitled(user_id: str, feature: str = "video") -> httpx.Response:
        return await client.get(
            f"/v1/billing/entitlements?feature={feature}&user_id={user_id}",
            headers=buyer.headers,
        )

    assert (await entitled(ana)).status_code == 403  # no license yet
    first = await client.post(seats, json={"user_id": ana}, headers=h)
    assert first.status_code == 201, first.text
    assert (first.json()["holder_org_id"], first.json()["user_id"]) == (buyer.org_id, ana)
    assert (await client.post(seats, json={"user_id": ana}, headers=h)).status_code == 409
    assert (await client.post(seats, json={"user_id": bo}, headers=h)).status_code == 201
    full = await client.post(seats, json={"user_id": cy}, headers=h)
    assert (full.status_code, full.json()["seats"]) == (409, 2)
    outsider = await client.post(seats, json={"user_id": seller.owner_id}, headers=h)
    assert outsider.status_code == 422

    granted = await entitled(ana)
    assert granted.status_code == 200, granted.text
    assert (granted.json()["license_id"], granted.json()["plan_id"]) == (
        first.json()["id"],
        team["id"],
    )
    assert (await entitled(cy)).status_code == 403
    assert (await entitled(ana, "recording")).status_code == 403
    fewer = await client.patch(
        f"/v1/billing/subscriptions/{sub['id']}", json={"quantity": 1}, headers=h
    )
    assert fewer.status_code == 409

    ended = await client.post(f"/v1/billing/licenses/{first.json()['id']}/unassign", headers=h)
    assert ended.json()["unassigned_at"] is not None
    assert (await entitled(ana)).status_code == 403
    assert (await client.post(seats, json={"user_id": cy}, headers=h)).status_code == 201
    history = (await client.get(f"{seats}?live=false", headers=h)).json()["data"]
    assert [(lic["user_id"], lic["id"]) for lic in history] == [(ana, first.json()["id"])]
    assert len((await client.get(f"{seats}?live=true", headers=h)).json()["data"]) == 2

    await client.post(
        f"/v1/billing/subscriptions/{sub['id']}/cancel", json={"at_period_end": False}, headers=h
    )
    assert (await entitled(bo)).status_code == 403  # an ended subscription entitles nobody
