"""A contact's campaign recipient rows are exported with the contact and erased with it;
the campaign's statistics stop counting the erased contact."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.identity.factories import make_tenant
from tests.messaging.campaigns.factories import add_contacts, make_account, runner_for
from tests.privacy.factories import download


async def test_recipients_are_exported_and_erased_with_their_contact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    kept, erased = await add_contacts(app, tenant.org_id, ["+14155550301", "+14155550302"])
    body = {
        "name": "Privacy",
        "account_id": account,
        "template_name": "hello",
        "audience": {"kind": "contacts", "contact_ids": [kept, erased]},
        "start": True,
    }
    campaign = (await client.post("/v1/campaigns", json=body, headers=tenant.headers)).json()
    await runner_for(app).run_once()
    recipients = (
        await client.get(f"/v1/campaigns/{campaign['id']}/recipients", headers=tenant.headers)
    ).json()["data"]
    mine = next(r for r in recipients if r["contact_id"] == erased)

    export = await client.post(
        "/v1/privacy/exports",
        json={"subject_type": "contact", "subject_id": erased},
        headers=tenant.headers,
    )
    assert export.status_code == 201, export.text
    _, text = await download(client, tenant.headers, export.json()["id"])
    assert mine["id"] in text
    assert campaign["id"] in text

    erasure = await client.post(
        "/v1/privacy/erasures",
        json={"subject_type": "contact", "subject_id": erased},
        headers=tenant.headers,
    )
    assert erasure.status_code == 201, erasure.text
    after = (
        await client.get(f"/v1/campaigns/{campaign['id']}/recipients", headers=tenant.headers)
    ).json()["data"]
    assert [r["contact_id"] for r in after] == [kept]
    stats = (
        await client.get(f"/v1/campaigns/{campaign['id']}/stats", headers=tenant.headers)
    ).json()
    assert stats["funnel"]["recipients"] == 1
    assert stats["funnel"]["sent"] == 1
