"""CORS for public intake: a browser on a publishable key's allowed origin gets a
preflight answer and readable responses naming that origin (never ``*``, never with
credentials); any other origin gets no CORS headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.settings import Settings
from tests.conftest import client_for
from tests.engagement.test_intake import FORM, submit, visitor
from tests.identity.factories import make_tenant
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key

TICKETS = "/v1/intake/support/tickets"


@pytest.fixture
async def open_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app whose general CORS list allows every origin (a dashboard served anywhere)."""
    application = create_app(settings.model_copy(update={"cors_origins": ["*"]}))
    async with LifespanManager(application):
        yield application


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_preflight_and_responses_name_only_a_keys_allowed_origins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key, rate_limit_per_minute=3))["key"]

    answer = await client.options(TICKETS, headers=preflight(ORIGIN))
    assert answer.status_code == 204, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed_headers = answer.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "x-access-token"):
        assert header in allowed_headers
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert "access-control-allow-credentials" not in answer.headers
    assert "Origin" in answer.headers["Vary"]
    for origin, method in (
        ("https://evil.example", "POST"),
        ("http://shop.example", "POST"),  # another scheme is another origin
        ("null", "POST"),
        (ORIGIN, "DELETE"),
    ):
        refused = await client.options(TICKETS, headers=preflight(origin, method))
        assert refused.status_code == 403, (origin, method)
        assert "access-control-allow-origin" not in refused.headers

    made = await submit(client, key)
    assert made.status_code == 201
    assert made.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "RateLimit" in made.headers["Access-Control-Expose-Headers"]
    assert "access-control-allow-credentials" not in made.headers
    token = made.json()["access_token"]
    read = await client.get("/v1/intake/support/ticket", headers=visitor(key, token))
    assert read.headers["Access-Control-Allow-Origin"] == ORIGIN
    wrong = await client.post(
        TICKETS, json=FORM, headers=visitor(key, origin="https://evil.example")
    )
    assert wrong.status_code == 403
    assert "access-control-allow-origin" not in wrong.headers
    # A 429 is readable by the allowed page, with its Retry-After.
    limited = await submit(client, key)
    assert limited.status_code == 429
    assert limited.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Retry-After" in limited.headers["Access-Control-Expose-Headers"]

    # A revoked key's origins are no longer answered.
    other = await create_publishable_key(
        client, tenant.api_key, allowed_origins=["https://gone.example"]
    )
    assert (await client.options(TICKETS, headers=preflight("https://gone.example"))).is_success
    await client.post(f"/v1/publishable-keys/{other['id']}/revoke", headers=tenant.headers)
    gone = await client.options(TICKETS, headers=preflight("https://gone.example"))
    assert gone.status_code == 403


async def test_a_wildcard_cors_setting_never_opens_intake_to_every_origin(
    open_app: FastAPI,
) -> None:
    async with client_for(open_app) as client:
        tenant = await make_tenant(open_app)
        key = (await create_publishable_key(client, tenant.api_key))["key"]
        elsewhere = await client.options(TICKETS, headers=preflight("https://evil.example"))
        assert elsewhere.status_code == 403
        assert "access-control-allow-origin" not in elsewhere.headers
        made = await submit(client, key)
        assert made.headers["Access-Control-Allow-Origin"] == ORIGIN
        wrong = await client.post(
            TICKETS, json=FORM, headers=visitor(key, origin="https://evil.example")
        )
        assert "access-control-allow-origin" not in wrong.headers
        # Other routes keep the general setting.
        me = await client.get("/v1/me", headers={**tenant.headers, "Origin": "https://x.example"})
        assert me.headers["Access-Control-Allow-Origin"] == "*"
