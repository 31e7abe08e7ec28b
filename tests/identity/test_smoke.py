from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.identity.factories import make_tenant


async def test_me_with_api_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    response = await client.get("/v1/me", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["organization"]["id"] == tenant.org_id
    assert body["user"]["email"] == tenant.owner_email
    assert body["principal"]["kind"] == "api_key"
