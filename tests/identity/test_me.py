"""/v1/me: who is calling (a typed principal), and the person's own settings and password,
which only a login session may change; password checks count in the sign-in limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.core import ratelimit
from commbase.identity.roles import Role
from tests.conftest import client_for, make_settings
from tests.identity.factories import PASSWORD, add_member, auth, create_key, login, make_tenant

WRONG = {"current_password": "not my password", "new_password": "a brand new secret"}


class PinnedTime:
    """The rate limiter's clock, 10 s into a 15-minute window: no window rolls mid-test."""

    def __init__(self) -> None:
        self.now = 1_700_000_100 - 1_700_000_100 % 900 + 10

    def time(self) -> float:
        return self.now


@pytest.fixture
def pinned_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "time", PinnedTime())


@asynccontextmanager
async def limited_app(
    database_url: str, redis_url: str | None, *, per_email: int, per_ip: int
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url, redis_url, login_email_limit=per_email, login_ip_limit=per_ip
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


async def test_keys_and_agent_sessions_cannot_change_personal_settings(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    session = await login(client, tenant.owner_email)
    set_caller_id = {"preferences": {"default_caller_id": "+14155550100"}}
    assert (
        await client.patch("/v1/me", json=set_caller_id, headers=auth(session))
    ).status_code == 200

    narrow = str((await create_key(client, tenant.api_key, scopes=["calls:read"]))["key"])
    agent = await client.post(
        "/v1/agent-sessions",
        json={"session_type": "authenticated", "agent_context": {"agent_id": "bot"}},
        headers=tenant.headers,
    )
    agent_token = agent.json()["session_token"]
    hijack = {"preferences": {"default_caller_id": "+19005550199"}, "first_name": "Mallory"}
    for token in (narrow, tenant.api_key, agent_token):
        patched = await client.patch("/v1/me", json=hijack, headers=auth(token))
        assert patched.status_code == 403, patched.text
        assert "login session" in patched.json()["detail"]
        password = await client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "taken over now"},
            headers=auth(token),
        )
        assert password.status_code == 403
    me = (await client.get("/v1/me", headers=auth(session))).json()["user"]
    assert me["preferences"]["default_caller_id"] == "+14155550100"
    assert me["first_name"] == "Owner"
    await login(client, tenant.owner_email)  # the password is unchanged


async def test_wrong_current_passwords_count_in_the_sign_in_limits_and_are_audited(
    database_url: str, redis_url: str | None, pinned_limiter: None
) -> None:
    async with (
        limited_app(database_url, redis_url, per_email=3, per_ip=100) as app,
        client_for(app, ip="198.51.100.9") as client,
    ):
        tenant = await make_tenant(app)
        session = await login(client, tenant.owner_email)  # 1 of 3 for this email
        for _ in range(2):
            wrong = await client.post("/v1/me/password", json=WRONG, headers=auth(session))
            assert wrong.status_code == 401
            assert wrong.json()["detail"] == "The current password is wrong"
        limited = await client.post("/v1/me/password", json=WRONG, headers=auth(session))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        # The sign-in form shares the count: even the right password waits now.
        signing_in = await client.post(
            "/v1/auth/login", json={"email": tenant.owner_email, "password": PASSWORD}
        )
        assert signing_in.status_code == 429
        right = {"current_password": PASSWORD, "new_password": "a brand new secret"}
        assert (
            await client.post("/v1/me/password", json=right, headers=auth(session))
        ).status_code == 429

        log = await client.get(
            "/v1/audit-log?action=user.password_change_failed", headers=tenant.headers
        )
        entries = log.json()["data"]
        assert len(entries) == 2
        assert {(e["actor_type"], e["actor_id"], e["target_id"]) for e in entries} == {
            ("user", tenant.owner_id, tenant.owner_id)
        }
        assert {e["ip_address"] for e in entries} == {"198.51.100.9"}


async def test_password_checks_count_per_address_too(
    database_url: str, redis_url: str | None, pinned_limiter: None
) -> None:
    async with limited_app(database_url, redis_url, per_email=100, per_ip=5) as app:
        async with client_for(app, ip="203.0.113.77") as client:
            tenant = await make_tenant(app)
            _, other_email = await add_member(app, tenant, role=Role.AGENT)
            session = await login(client, tenant.owner_email)  # 1 of 5 for this address
            other = await login(client, other_email)  # 2 of 5
            for token in (session, other, session):  # 3, 4, 5
                wrong = await client.post("/v1/me/password", json=WRONG, headers=auth(token))
                assert wrong.status_code == 401
            limited = await client.post("/v1/me/password", json=WRONG, headers=auth(other))
            assert limited.status_code == 429
        async with client_for(app, ip="203.0.113.78") as elsewhere:
            wrong = await elsewhere.post("/v1/me/password", json=WRONG, headers=auth(other))
            assert wrong.status_code == 401


async def test_me_declares_what_the_principal_holds(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    session = await login(client, tenant.owner_email)
    test_key = await create_key(client, tenant.api_key, environment="test", scopes=["calls:read"])
    agent = await client.post(
        "/v1/agent-sessions",
        json={"agent_context": {"agent_id": "bot-7"}, "user_consent": {"max_spend_limit": 500}},
        headers=tenant.headers,
    )

    by_session = (await client.get("/v1/me", headers=auth(session))).json()["principal"]
    assert by_session["kind"] == "user_session"
    assert (by_session["key"], by_session["agent"], by_session["livemode"]) == (None, None, True)
    by_key = (await client.get("/v1/me", headers=auth(str(test_key["key"])))).json()["principal"]
    assert by_key == {
        "kind": "api_key",
        "id": test_key["id"],
        "scopes": ["calls:read"],
        "livemode": False,
        "key": {"environment": "test", "max_concurrent_calls": 10},
        "agent": None,
    }
    by_agent = (await client.get("/v1/me", headers=auth(agent.json()["session_token"]))).json()[
        "principal"
    ]
    assert by_agent["agent"]["agent_id"] == "bot-7"
    assert by_agent["agent"]["max_spend_limit"] == 500
    assert by_agent["agent"]["data_retention"] == "30_days"

    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    principal = schema["MeRead"]["properties"]["principal"]
    assert principal == {"$ref": "#/components/schemas/PrincipalRead"}
    assert set(schema["PrincipalRead"]["properties"]) == {
        "kind",
        "id",
        "scopes",
        "livemode",
        "key",
        "agent",
    }
