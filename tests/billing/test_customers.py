"""Customers: contacts, members and consenting organizations; their billing details in
GDPR exports and erasures; catalog codes unique per organization."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.billing.recurring import (  # noqa: F401  (module-scoped app and client fixtures)
    billing_app,
    contact_customer,
    created,
    module_app,
    module_client,
    plan,
)
from tests.identity.factories import add_member, make_tenant
from tests.privacy.factories import download, request_erasure, request_export


async def test_customers_are_contacts_members_or_consenting_organizations(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    h = tenant.headers
    member, _ = await add_member(app, tenant, role=Role.AGENT)
    user = await created(client, h, "/v1/billing/customers", kind="user", reference_id=member)
    assert (user["kind"], user["reference_id"]) == ("user", member)
    twice = await client.post(
        "/v1/billing/customers", json={"kind": "user", "reference_id": member}, headers=h
    )
    assert twice.status_code == 409
    stranger = await client.post(
        "/v1/billing/customers", json={"kind": "user", "reference_id": other.owner_id}, headers=h
    )
    assert stranger.status_code == 404
    itself = await client.post(
        "/v1/billing/customers",
        json={"kind": "organization", "reference_id": tenant.org_id},
        headers=h,
    )
    assert itself.status_code == 404
    listed = await client.get("/v1/billing/customers?kind=user", headers=h)
    assert [c["id"] for c in listed.json()["data"]] == [user["id"]]

    await plan(client, h, "basic", 100)
    taken = await client.post(
        "/v1/billing/plans",
        json={"code": "basic", "name": "Again", "amount": 1, "currency": "USD"},
        headers=h,
    )
    assert taken.status_code == 409
    await plan(client, other.headers, "basic", 100)  # codes are per organization


async def test_a_contacts_billing_details_are_exported_and_erased(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    customer = await contact_customer(
        client,
        h,
        "Erin Payer",
        email="erin@payer.example",
        tax_id="FR123",
        address={"line1": "1 Rue Haute", "city": "Lyon", "country": "FR"},
    )
    contact_id = customer["reference_id"]
    export = await request_export(client, h, "contact", contact_id)
    files, _ = await download(client, h, export["id"])
    [exported] = files["billing_customers.json"]
    assert (exported["email"], exported["tax_id"]) == ("erin@payer.example", "FR123")

    await request_erasure(client, h, "contact", contact_id)
    after = (await client.get(f"/v1/billing/customers/{customer['id']}", headers=h)).json()
    assert (after["name"], after["email"], after["tax_id"], after["address"]) == (
        None,
        None,
        None,
        {},
    )
    assert after["reference_id"] != contact_id
