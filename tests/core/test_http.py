"""Request plumbing: request ids, the client behind trusted proxies, body size cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from commbase.core.http import parse_networks, resolve_client
from tests.conftest import client_for, make_settings
from tests.core.conftest import assert_problem, running_app
from tests.identity.factories import PASSWORD, make_tenant

# ------------------------------------------------------------------ request id


async def test_every_response_gets_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/v1/nowhere")

    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(i.startswith("req_") for i in ids)
    assert ids[0] != ids[1]


async def test_a_well_formed_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "lb-7f3a:42.1_x"})

    assert response.headers["X-Request-Id"] == "lb-7f3a:42.1_x"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, "new\\nline", "<script>"])
async def test_a_malformed_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": incoming})

    assert response.headers["X-Request-Id"].startswith("req_")


# ------------------------------------------------------------ who is calling


def scope_for(peer: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }


def resolve(peer: str, headers: dict[str, str], trusted: list[str]) -> tuple[str | None, ...]:
    info = resolve_client(
        scope_for(peer, headers),
        trusted=parse_networks(trusted),
        country_header="CF-IPCountry",
        city_header="CF-IPCity",
    )
    return info.ip, info.country, info.city


def test_proxy_headers_from_an_untrusted_peer_are_ignored() -> None:
    headers = {"X-Forwarded-For": "1.2.3.4", "CF-IPCountry": "FR", "CF-IPCity": "Paris"}

    assert resolve("198.51.100.7", headers, ["10.0.0.0/8"]) == ("198.51.100.7", None, None)


def test_forwarded_for_is_read_right_to_left_past_trusted_hops() -> None:
    headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.2", "CF-IPCountry": "de"}

    # 6.6.6.6 was written by the client itself; the first untrusted hop is the client.
    assert resolve("10.0.0.1", headers, ["10.0.0.0/8"]) == ("203.0.113.9", "DE", None)


def test_all_trusted_hops_leave_the_leftmost() -> None:
    headers = {"X-Forwarded-For": "10.0.0.3,10.0.0.2"}

    assert resolve("10.0.0.1", headers, ["10.0.0.0/8"])[0] == "10.0.0.3"


def test_ipv6_proxies_and_clients() -> None:
    headers = {"X-Forwarded-For": "2001:db8::7"}

    assert resolve("::1", headers, ["::1/128"])[0] == "2001:db8::7"


def test_garbage_in_forwarded_for_is_not_trusted() -> None:
    headers = {"X-Forwarded-For": "203.0.113.9, not-an-ip"}

    assert resolve("10.0.0.1", headers, ["10.0.0.0/8"])[0] == "not-an-ip"


async def login_session(client: httpx.AsyncClient, email: str, headers: dict[str, str]) -> Any:
    response = await client.post(
        "/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["session"]


async def test_login_records_the_client_seen_through_a_trusted_proxy(
    database_url: str, redis_url: str | None
) -> None:
    settings = make_settings(database_url, redis_url, trusted_proxies=["10.0.0.0/8"])
    proxied = {
        "X-Forwarded-For": "203.0.113.9, 10.0.0.2",
        "CF-IPCountry": "gb",
        "CF-IPCity": "London",
    }
    async with running_app(settings) as app:
        tenant = await make_tenant(app)
        async with client_for(app, ip="10.0.0.1") as via_proxy:
            session = await login_session(via_proxy, tenant.owner_email, proxied)
        assert (session["ip_address"], session["country"], session["city"]) == (
            "203.0.113.9",
            "GB",
            "London",
        )

        async with client_for(app, ip="198.51.100.7") as direct:
            session = await login_session(direct, tenant.owner_email, proxied)
        assert (session["ip_address"], session["country"], session["city"]) == (
            "198.51.100.7",
            None,
            None,
        )


# ------------------------------------------------------------------ body size


@pytest.fixture
async def small_app(database_url: str, redis_url: str | None) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, redis_url, max_body_bytes=200)
    async with running_app(settings) as app:
        yield app


def padded_login(size: int) -> bytes:
    body = b'{"email": "owner@example.com", "password": "%s"}'
    return body % (b"x" * (size - len(body) + 2))


async def test_declared_oversize_body_is_a_413_problem(small_app: FastAPI) -> None:
    async with client_for(small_app) as client:
        response = await client.post(
            "/v1/auth/login",
            content=padded_login(201),
            headers={"Content-Type": "application/json"},
        )

    body = assert_problem(response, 413, "payload-too-large")
    assert "200 bytes" in str(body["detail"])
    assert response.headers["X-Request-Id"].startswith("req_")


async def test_body_at_the_limit_is_read(small_app: FastAPI) -> None:
    async with client_for(small_app) as client:
        response = await client.post(
            "/v1/auth/login",
            content=padded_login(200),
            headers={"Content-Type": "application/json"},
        )

    assert len(padded_login(200)) == 200
    assert_problem(response, 401, "invalid-credentials")


async def chunks(total: int) -> AsyncIterator[bytes]:
    body = padded_login(total)
    for start in range(0, len(body), 50):
        yield body[start : start + 50]


@pytest.mark.parametrize("idempotent", [False, True])
async def test_streamed_oversize_body_is_a_413_problem(
    small_app: FastAPI, idempotent: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    if idempotent:
        headers["Idempotency-Key"] = "big-1"
    async with client_for(small_app) as client:
        response = await client.post("/v1/auth/login", content=chunks(1000), headers=headers)
        follow_up = await client.get("/healthz")

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_problem(response, 413, "payload-too-large")
    assert follow_up.status_code == 200
