"""Identity answers bad input with a 4xx problem and changes nothing: integers beyond
64 bits and deep JSON in settings, explicit nulls in updates, dates at the calendar's
edges. What is valid at those edges is stored and read back intact."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.identity.factories import Tenant, auth, create_key, login, make_tenant

PROBLEM = "application/problem+json"


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"n": value}
    return value


async def _state(client: httpx.AsyncClient, tenant: Tenant, session: str) -> dict[str, Any]:
    volatile = {
        "last_used_at",
        "first_used_at",
        "total_requests",
        "updated_at",
        "last_activity_at",
        "last_seen_at",
    }

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    state = {}
    for path in ("/v1/organizations/current", "/v1/api-keys", "/v1/users", "/v1/members"):
        state[path] = strip((await client.get(path, headers=tenant.headers)).json())
    state["me"] = strip((await client.get("/v1/me", headers=auth(session))).json()["user"])
    return state


REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    # (method, path, body, the field errors[] names)
    ("PATCH", "/v1/organizations/current", {"settings": {"n": 2**64}}, "settings"),
    ("PATCH", "/v1/organizations/current", {"settings": {"n": -(2**63) - 1}}, "settings"),
    ("PATCH", "/v1/organizations/current", {"settings": _deep(40)}, "settings"),
    ("PATCH", "/v1/organizations/current", {"settings": {"x": [[[[_deep(30)]]]]}}, "settings"),
    ("PATCH", "/v1/organizations/current", {"onboarding": None}, "onboarding"),
    ("PATCH", "/v1/organizations/current", {"address": None}, "address"),
    ("PATCH", "{key}", {"name": None}, "name"),
    ("PATCH", "{key}", {"allowed_ips": None}, "allowed_ips"),
    ("PATCH", "{key}", {"rate_limit_tier": None}, "rate_limit_tier"),
    ("PATCH", "{key}", {"max_concurrent_calls": None}, "max_concurrent_calls"),
    ("PATCH", "{key}", {"max_concurrent_calls": 2**63}, "max_concurrent_calls"),
    ("PATCH", "{user}", {"status": None}, "status"),
    ("PATCH", "{user}", {"limits": {"daily_spend_limit": 2**64}}, "limits.daily_spend_limit"),
    ("PATCH", "{user}", {"first_name": None}, "first_name"),
    ("POST", "/v1/users", {"email": "x@example.com", "preferences": None, "role": None}, "role"),
    (
        "POST",
        "/v1/users",
        {"email": "x@example.com", "preferences": {"auto_recharge_amount": 2**63}},
        "preferences.auto_recharge_amount",
    ),
    ("POST", "/v1/api-keys", {"name": "k", "expires_at": "0001-01-01T00:00:00Z"}, "expires_at"),
    (
        "POST",
        "/v1/api-keys",
        {"name": "k", "expires_at": "0001-01-01T00:30:00+01:00"},
        "expires_at",
    ),
    (
        "POST",
        "/v1/api-keys",
        {"name": "k", "expires_at": "9999-12-31T23:59:59-00:01"},
        "expires_at",
    ),
    ("POST", "/v1/api-keys", {"name": "k", "expires_at": "10000-01-01T00:00:00Z"}, "expires_at"),
    ("POST", "/v1/api-keys", {"name": "k", "expires_at": "2030-02-30T00:00:00Z"}, "expires_at"),
    ("POST", "/v1/api-keys", {"name": "k", "expires_at": None, "environment": None}, "environment"),
    (
        "POST",
        "/v1/agent-sessions",
        {"agent_context": {"agent_id": "b"}, "user_consent": {"max_spend_limit": 2**64}},
        "user_consent.max_spend_limit",
    ),
    (
        "POST",
        "/v1/agent-sessions",
        {"agent_context": {"agent_id": "b"}, "user_consent": None},
        "user_consent",
    ),
    ("POST", "/v1/agent-sessions", {"agent_context": None}, "agent_context"),
    # Accounts: sign-up, links, invitations, two-factor, external sign-in.
    (
        "POST",
        "/v1/auth/signup",
        {"email": "not-an-email", "password": "long enough pw", "organization_name": "X"},
        "email",
    ),
    (
        "POST",
        "/v1/auth/signup",
        {"email": "a@example.com", "password": "short", "organization_name": "X"},
        "password",
    ),
    (
        "POST",
        "/v1/auth/signup",
        {"email": "a@example.com", "password": "long enough pw", "organization_name": None},
        "organization_name",
    ),
    ("POST", "/v1/auth/verify-email", {"token": "x" * 65}, "token"),
    ("POST", "/v1/auth/password-reset", {"email": None}, "email"),
    ("POST", "/v1/auth/password-reset/confirm", {"token": "t", "password": "short"}, "password"),
    ("POST", "/v1/invitations", {"email": "x@example.com", "role": "emperor"}, "role"),
    ("POST", "/v1/invitations", {"email": "x@example.com", "role": None}, "role"),
    ("POST", "/v1/auth/invitations/accept", {"token": None, "password": "x"}, "token"),
    (
        "POST",
        "/v1/auth/two-factor/activate",
        {"email": "a@example.com", "password": "p", "code": "1" * 33},
        "code",
    ),
    ("PUT", "/v1/organizations/current/two-factor", {"required": None}, "required"),
    ("POST", "/v1/auth/external", {"provider": "firebase", "id_token": "x" * 8193}, "id_token"),
    (
        "POST",
        "/v1/auth/login",
        {"email": "a@example.com", "password": "p", "two_factor_code": "1" * 33},
        "two_factor_code",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), REFUSED)
async def test_bad_input_is_a_4xx_and_changes_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    tenant = await make_tenant(app)
    session = await login(client, tenant.owner_email)
    key = await create_key(client, tenant.api_key, name="target")
    path = path.format(key=f"/v1/api-keys/{key['id']}", user=f"/v1/users/{tenant.owner_id}")
    before = await _state(client, tenant, session)
    response = await client.request(method, path, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert await _state(client, tenant, session) == before


async def test_nulls_that_mean_clear_or_default(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    session = await login(client, tenant.owner_email)
    key = await create_key(client, tenant.api_key, description="temporary")
    cleared = await client.patch(
        f"/v1/api-keys/{key['id']}", json={"description": None}, headers=tenant.headers
    )
    assert cleared.status_code == 200
    assert cleared.json()["description"] is None

    await client.patch("/v1/me", json={"phone": "+420601123456"}, headers=auth(session))
    me = await client.patch(
        "/v1/me",
        json={"phone": None, "preferences": None, "ai_settings": None},
        headers=auth(session),
    )
    assert me.status_code == 200, me.text
    assert me.json()["user"]["phone"] is None
    assert me.json()["user"]["ai_settings"]["tone"] == "professional"  # settings kept
    org = await client.patch(
        "/v1/organizations/current",
        json={"industry": None, "email": None, "website": None},
        headers=tenant.headers,
    )
    assert org.status_code == 200
    agent = await client.post(
        "/v1/agent-sessions",
        json={"agent_context": {"agent_id": "b"}, "expires_in_s": None, "user_id": None},
        headers=tenant.headers,
    )
    assert agent.status_code == 201


async def test_values_at_the_edges_are_stored_intact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    big = {"largest": 2**63 - 1, "smallest": -(2**63), "beyond_doubles": 2**53 + 1}
    settings = await client.patch(
        "/v1/organizations/current",
        json={"settings": {**big, "nested": _deep(29)}},
        headers=tenant.headers,
    )
    assert settings.status_code == 200, settings.text
    shown = (await client.get("/v1/organizations/current", headers=tenant.headers)).json()
    assert {k: shown["settings"][k] for k in big} == big
    assert shown["settings"]["nested"] == _deep(29)

    last_moment = "9999-12-31T23:59:59.999999Z"
    key = await create_key(client, tenant.api_key, expires_at=last_moment)
    assert key["expires_at"] == "9999-12-31T23:59:59.999999Z"
    token = str(key["key"])
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    assert (await client.get("/v1/api-keys", headers=tenant.headers)).status_code == 200
    rotated = await client.post(f"/v1/api-keys/{key['id']}/rotate", headers=tenant.headers)
    assert rotated.status_code == 200
    assert (await client.get("/v1/me", headers=auth(rotated.json()["key"]))).status_code == 200
    east = await create_key(client, tenant.api_key, expires_at="9999-12-31T23:59:59+14:00")
    assert east["expires_at"] == "9999-12-31T09:59:59Z"

    consent = await client.post(
        "/v1/agent-sessions",
        json={
            "agent_context": {"agent_id": "b"},
            "user_consent": {"max_spend_limit": 2**63 - 1},
            "expires_in_s": 30 * 86_400,
        },
        headers=tenant.headers,
    )
    assert consent.status_code == 201, consent.text
    me = await client.get("/v1/me", headers=auth(consent.json()["session_token"]))
    assert me.json()["principal"]["agent"]["max_spend_limit"] == 2**63 - 1
