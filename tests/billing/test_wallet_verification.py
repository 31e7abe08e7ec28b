"""An organization opened by sign-up tops up its wallet only once its owner has
verified their email; organizations the operator created are not affected."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from commbase.settings import Settings
from tests.billing.factories import open_wallet, shown
from tests.conftest import make_settings
from tests.identity.factories import auth, login, make_tenant
from tests.identity.mailbox import Mailbox, mailbox, send_mail, token_in

__all__ = ["mailbox"]

PASSWORD = "a long enough password"


@pytest.fixture
def settings(database_url: str, redis_url: str | None, mailbox: Mailbox) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        signup_mode="open",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
    )


async def test_an_unverified_sign_up_cannot_top_up_until_verified(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    body = {"email": "eve@example.com", "password": PASSWORD, "organization_name": "Eve Co"}
    assert (await client.post("/v1/auth/signup", json=body)).status_code == 202
    await send_mail(app)
    token = token_in(mailbox.to("eve@example.com")[0])
    headers = auth(await login(client, "eve@example.com", PASSWORD))
    wallet = await open_wallet(client, headers, owner_type="organization")
    topup_url = f"/v1/wallets/{wallet['id']}/topups"

    refused = await client.post(topup_url, json={"amount": 500}, headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"].startswith("Verify your email first")
    assert (await shown(client, headers, wallet["id"]))["balance"] == 0

    assert (await client.post("/v1/auth/verify-email", json={"token": token})).status_code == 200
    topped = await client.post(topup_url, json={"amount": 500}, headers=headers)
    assert topped.status_code == 201, topped.text
    assert (await shown(client, headers, wallet["id"]))["balance"] == 500

    tenant = await make_tenant(app)
    theirs = await open_wallet(client, tenant.headers, amount=700, owner_type="organization")
    assert theirs["balance"] == 700
