"""``Idempotency-Key`` on POST, with Stripe's semantics, through the API."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from fastapi import FastAPI, Request

from commbase.core.idempotency import request_key
from commbase.core.time import FrozenClock
from commbase.settings import Settings
from tests.conftest import client_for
from tests.core.conftest import assert_problem, running_app
from tests.identity.factories import Tenant, auth, make_tenant

NEW_USER = {"email": "ada@example.com", "first_name": "Ada", "role": "agent"}


def with_key(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


async def member_emails(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    """Emails of the members and of those invited (POST /v1/users invites)."""
    response = await client.get("/v1/members", params={"limit": 100}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return sorted((m["user"] or m["invitation"])["email"] for m in response.json()["data"])


async def test_same_key_and_body_replays_the_first_response(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)

    first = await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "create-ada"))
    second = await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "create-ada"))

    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.content == first.content
    assert await member_emails(client, tenant) == sorted([tenant.owner_email, NEW_USER["email"]])


async def test_without_a_key_the_request_runs_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)

    first = await client.post("/v1/users", json=NEW_USER, headers=tenant.headers)
    second = await client.post("/v1/users", json=NEW_USER, headers=tenant.headers)

    assert first.status_code == 201
    assert_problem(second, 409, "already-exists")


async def test_same_key_with_another_body_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "k1"))
    assert created.status_code == 201

    other_body = {**NEW_USER, "email": "grace@example.com"}
    reused = await client.post("/v1/users", json=other_body, headers=with_key(tenant, "k1"))
    body = assert_problem(reused, 422, "idempotency-key-reused")
    assert "POST /v1/users" in str(body["detail"])

    # So is the same key on another endpoint.
    elsewhere = await client.post(
        "/v1/agent-sessions",
        json={"agent_context": {"agent_id": "x"}},
        headers=with_key(tenant, "k1"),
    )
    assert_problem(elsewhere, 422, "idempotency-key-reused")
    assert await member_emails(client, tenant) == sorted([tenant.owner_email, NEW_USER["email"]])


async def test_keys_belong_to_their_credential(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant, other_org = await make_tenant(app), await make_tenant(app)
    second_key = await client.post("/v1/api-keys", json={"name": "ci"}, headers=tenant.headers)
    assert second_key.status_code == 201
    body = {"agent_context": {"agent_id": "support-bot"}}
    credentials = [
        tenant.headers,
        auth(second_key.json()["key"]),  # same organization, another key
        other_org.headers,
    ]

    responses = [
        await client.post(
            "/v1/agent-sessions", json=body, headers={**c, "Idempotency-Key": "same-key"}
        )
        for c in credentials
    ]

    # Each ran: none was taken for a repeat of another credential's request.
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 3
    listed = await client.get("/v1/agent-sessions", headers=tenant.headers)
    assert len(listed.json()["data"]) == 2


async def test_once_shown_secret_is_not_replayed(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    body = {"name": "deploy key"}

    first = await client.post("/v1/api-keys", json=body, headers=with_key(tenant, "new-key"))
    again = await client.post("/v1/api-keys", json=body, headers=with_key(tenant, "new-key"))

    assert first.status_code == 201, first.text
    assert first.headers["Cache-Control"] == "no-store"
    secret = first.json()["key"]
    problem = assert_problem(again, 409, "idempotency-key-in-use")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert secret not in again.text
    keys = await client.get("/v1/api-keys", headers=tenant.headers)
    assert sorted(k["name"] for k in keys.json()["data"]) == ["deploy key", "owner key"]
    assert "not repeated" in str(problem["detail"])


async def test_agent_session_token_is_not_replayed(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    body = {"agent_context": {"agent_id": "support-bot"}}

    first = await client.post("/v1/agent-sessions", json=body, headers=with_key(tenant, "a1"))
    again = await client.post("/v1/agent-sessions", json=body, headers=with_key(tenant, "a1"))

    assert first.status_code == 201, first.text
    assert_problem(again, 409, "idempotency-key-in-use")
    listed = await client.get("/v1/agent-sessions", headers=tenant.headers)
    assert [s["id"] for s in listed.json()["data"]] == [first.json()["id"]]


async def test_a_request_that_failed_validation_does_not_use_up_the_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    broken = {**NEW_USER, "email": "not an email"}

    refused = await client.post("/v1/users", json=broken, headers=with_key(tenant, "retry-me"))
    fixed = await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "retry-me"))

    assert_problem(refused, 422, "validation-failed")
    assert fixed.status_code == 201, fixed.text
    assert "Idempotent-Replayed" not in fixed.headers


async def test_key_length_is_checked(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)

    too_long = await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "k" * 256))
    body = assert_problem(too_long, 400, "invalid-request")
    assert "Idempotency-Key" in str(body["detail"])
    assert await member_emails(client, tenant) == [tenant.owner_email]

    longest = await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "k" * 255))
    assert longest.status_code == 201


async def test_keys_expire_after_the_ttl(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    other_body = {**NEW_USER, "email": "grace@example.com"}
    assert (
        await client.post("/v1/users", json=NEW_USER, headers=with_key(tenant, "k"))
    ).status_code == 201

    clock.advance(settings.idempotency_ttl_s - 1)
    still_held = await client.post("/v1/users", json=other_body, headers=with_key(tenant, "k"))
    assert_problem(still_held, 422, "idempotency-key-reused")

    clock.advance(1)
    reused = await client.post("/v1/users", json=other_body, headers=with_key(tenant, "k"))
    assert reused.status_code == 201, reused.text
    assert "Idempotent-Replayed" not in reused.headers
    assert await member_emails(client, tenant) == sorted(
        [tenant.owner_email, NEW_USER["email"], other_body["email"]]
    )


async def test_get_requests_ignore_the_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    first = await client.get("/v1/me", headers=with_key(tenant, "k" * 300))

    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers


# ------------------------------------------------------- concurrency and crashes


async def test_second_request_while_the_first_runs_is_told_to_retry(settings: Settings) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[dict[str, Any]] = []

    async with running_app(settings) as app:

        @app.post("/test/slow")
        async def slow(request: Request) -> dict[str, int]:
            calls.append(await request.json())
            started.set()
            await release.wait()
            return {"n": len(calls)}

        headers = {"Idempotency-Key": "slow-1"}
        async with client_for(app) as client:
            first = asyncio.create_task(client.post("/test/slow", json={"a": 1}, headers=headers))
            await started.wait()

            concurrent = await client.post("/test/slow", json={"a": 1}, headers=headers)
            release.set()
            done = await first
            replay = await client.post("/test/slow", json={"a": 1}, headers=headers)

    assert_problem(concurrent, 409, "idempotency-key-in-use")
    assert concurrent.headers["Retry-After"] == "1"
    assert done.status_code == 200
    assert done.json() == {"n": 1}
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == {"n": 1}
    assert calls == [{"a": 1}]


async def test_a_server_error_frees_the_key(settings: Settings) -> None:
    attempts: list[int] = []

    async with running_app(settings) as app:

        @app.post("/test/flaky")
        async def flaky() -> dict[str, int]:
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("database went away")
            return {"attempt": len(attempts)}

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"Idempotency-Key": "flaky-1"}
            crashed = await client.post("/test/flaky", json={}, headers=headers)
            retried = await client.post("/test/flaky", json={}, headers=headers)
            replayed = await client.post("/test/flaky", json={}, headers=headers)

    assert_problem(crashed, 500, "internal-error")
    assert retried.status_code == 200
    assert retried.json() == {"attempt": 2}
    assert "Idempotent-Replayed" not in retried.headers
    assert replayed.json() == {"attempt": 2}
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert len(attempts) == 2


async def test_request_key_is_the_key_scoped_to_the_credential(settings: Settings) -> None:
    """What services store with their rows: stable, and distinct per credential."""
    async with running_app(settings) as app:

        @app.post("/test/key")
        async def echo(request: Request) -> dict[str, str | None]:
            return {"key": request_key(request)}

        async with client_for(app) as client:
            first = await client.post(
                "/test/key", json={}, headers={"Authorization": "Bearer a", "Idempotency-Key": "k"}
            )
            other = await client.post(
                "/test/key", json={}, headers={"Authorization": "Bearer b", "Idempotency-Key": "k"}
            )
            none = await client.post("/test/key", json={}, headers={"Authorization": "Bearer a"})

    expected = hashlib.sha256(b"Bearer a").hexdigest()[:32] + ":k"
    assert first.json() == {"key": expected}
    assert other.json()["key"] != expected
    assert other.json()["key"].endswith(":k")
    assert none.json() == {"key": None}
