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
from tests.calls.factories import ANSWERED_94S, fund_wallet, place
from tests.identity.factories import add_member, login, make_tenant


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


async def test_video_calls_need_a_license_once_the_organization_is_under_plans(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seller, buyer = await make_tenant(app), await make_tenant(app)
    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": seller.org_id}},
        headers=buyer.headers,
    )
    await fund_wallet(client, buyer.headers, amount=5_000)
    # Under no plan: video calls as before.
    assert (await place(client, buyer.headers, ANSWERED_94S, kind="video")).status_code == 201

    customer = await created(
        client,
        seller.headers,
        "/v1/billing/customers",
        kind="organization",
        reference_id=buyer.org_id,
    )
    video = await plan(client, seller.headers, "video", 3000, features=["video_calls"])
    sub = await subscribe(client, seller.headers, customer["id"], video["id"])
    ana, ana_email = await add_member(app, buyer, role=Role.AGENT)
    as_ana = {"Authorization": f"Bearer {await login(client, ana_email)}"}

    refused = await place(client, as_ana, ANSWERED_94S, kind="video")
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["feature"] == "video_calls"
    # An organization key acts for no user, so holds no seat.
    keyed = await place(client, buyer.headers, ANSWERED_94S, kind="video")
    assert (keyed.status_code, keyed.json()["feature"]) == (403, "video_calls")
    assert (await place(client, as_ana, ANSWERED_94S)).status_code == 201  # voice: not gated

    seat = await created(
        client, seller.headers, f"/v1/billing/subscriptions/{sub['id']}/licenses", user_id=ana
    )
    placed = await place(client, as_ana, ANSWERED_94S, kind="video")
    assert placed.status_code == 201, placed.text
    assert placed.json()["kind"] == "video"

    await client.post(f"/v1/billing/licenses/{seat['id']}/unassign", headers=seller.headers)
    assert (await place(client, as_ana, ANSWERED_94S, kind="video")).status_code == 403
    await client.post(
        f"/v1/billing/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers=seller.headers,
    )
    # No live subscription any more: the organization is under no plan again.
    assert (await place(client, as_ana, ANSWERED_94S, kind="video")).status_code == 201
