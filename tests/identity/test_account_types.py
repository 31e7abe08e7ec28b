"""Account types (seed 003): a sign-up is free, an operator's organization standard,
and a live subscription sold by the operator's organization names the type; the type
is the rate-limit ceiling of the organization's credentials."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from commbase.settings import Settings
from tests.billing.recurring import created, plan, subscribe
from tests.conftest import make_settings
from tests.identity.factories import auth, create_key, login, make_tenant
from tests.identity.mailbox import Mailbox, mailbox

__all__ = ["mailbox"]

PASSWORD = "a long enough password"
DAY = 86_400  # one window for the whole test: no window boundary in the middle
ROOMY = {"limit": 10_000, "window_s": 60}


@pytest.fixture
def settings(database_url: str, redis_url: str | None, mailbox: Mailbox) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        signup_mode="open",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        rate_limit_tiers={
            "free": {"limit": 3, "window_s": DAY},
            "standard": ROOMY,
            "premium": {"limit": 6, "window_s": DAY},
        },
        session_rate_limit=10_000,
        account_type_seller="operator",
    )


async def _sign_up(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, "organization_name": "Acme Dental"}
    response = await client.post("/v1/auth/signup", json=body)
    assert response.status_code == 202, response.text
    return auth(await login(client, email, PASSWORD))


async def _allowed_before_429(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    for n in range(20):
        response = await client.get("/v1/organizations/current", headers=headers)
        if response.status_code == 429:
            return n
        assert response.status_code == 200, response.text
    raise AssertionError("no 429 within 20 requests")


async def test_sign_ups_are_free_and_operator_organizations_standard(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await _sign_up(client, "ada@example.com")
    org = (await client.get("/v1/organizations/current", headers=headers)).json()
    assert (org["account_type"], org["account_type_source"]) == ("free", "default")
    tenant = await make_tenant(app)
    theirs = (await client.get("/v1/organizations/current", headers=tenant.headers)).json()
    assert (theirs["account_type"], theirs["account_type_source"]) == ("standard", "default")
    # Members cannot choose their own type.
    refused = await client.patch(
        "/v1/organizations/current", json={"account_type": "enterprise"}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    # A free organization's API key of a higher tier is held to the free ceiling.
    key = await create_key(
        client, await login(client, "ada@example.com", PASSWORD), rate_limit_tier="premium"
    )
    assert key["rate_limit_tier"] == "premium"
    assert await _allowed_before_429(client, auth(key["key"])) == 3


async def test_a_premium_subscription_makes_the_organization_premium_with_its_limit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    operator = await make_tenant(app, name="Operator")
    premium = await plan(
        client, operator.headers, "premium", 2900, features=["chat", "account_type:premium"]
    )
    # The same plan sold by any other organization gives no account type.
    other = await make_tenant(app)
    elsewhere = await plan(
        client, other.headers, "premium", 100, features=["account_type:enterprise"]
    )

    before = await _sign_up(client, "bea@example.com")
    org_id = (await client.get("/v1/organizations/current", headers=before)).json()["id"]
    consent = await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": operator.org_id}},
        headers=before,
    )
    assert consent.status_code == 200, consent.text
    assert consent.json()["account_type"] == "free"
    # Free: 3 requests per window, two already spent by this session.
    assert await _allowed_before_429(client, before) == 1
    refused = await client.get("/v1/organizations/current", headers=before)
    assert refused.headers["RateLimit-Policy"] == f'"free";q=3;w={DAY}'

    body = {"kind": "organization", "reference_id": org_id}
    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": other.org_id}},
        headers=await _relogin(client, "bea@example.com"),
    )
    other_customer = await created(client, other.headers, "/v1/billing/customers", **body)
    await subscribe(client, other.headers, other_customer["id"], elsewhere["id"])
    after_other = await _relogin(client, "bea@example.com")
    shown = (await client.get("/v1/organizations/current", headers=after_other)).json()
    assert shown["account_type"] == "free"

    await client.patch(
        "/v1/organizations/current",
        json={"settings": {"billed_by": operator.org_id}},
        headers=after_other,
    )
    customer = await created(client, operator.headers, "/v1/billing/customers", **body)
    await subscribe(client, operator.headers, customer["id"], premium["id"])

    after = await _relogin(client, "bea@example.com")
    shown = (await client.get("/v1/organizations/current", headers=after)).json()
    assert (shown["account_type"], shown["account_type_source"]) == ("premium", "subscription")
    # Premium: 6 requests per window (one spent above); the 429 comes later than free's.
    assert await _allowed_before_429(client, after) == 5
    refused = await client.get("/v1/organizations/current", headers=after)
    assert refused.headers["RateLimit-Policy"] == f'"premium";q=6;w={DAY}'

    # Cancelled, the organization is back on its stored type.
    subs = await client.get("/v1/billing/subscriptions", headers=operator.headers)
    [sub] = subs.json()["data"]
    cancelled = await client.post(
        f"/v1/billing/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers=operator.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    again = await _relogin(client, "bea@example.com")
    shown = (await client.get("/v1/organizations/current", headers=again)).json()
    assert (shown["account_type"], shown["account_type_source"]) == ("free", "default")


async def _relogin(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    """A new login session: its own counter and a principal read afresh."""
    return auth(await login(client, email, PASSWORD))
