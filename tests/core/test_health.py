"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import client_for, make_settings
from tests.core.conftest import FakeTime, running_app
from tests.identity.factories import make_tenant


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_redis(
    client: httpx.AsyncClient, redis_url: str | None
) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200, response.text
    expected = {"database": "ok"} | ({"redis": "ok"} if redis_url else {})
    assert response.json() == {"status": "ok", "checks": expected}


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/commbase.db", None)
    async with running_app(settings) as app, client_for(app) as client:
        response = await client.get("/readyz")
        alive = await client.get("/healthz")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error: ")
    assert alive.status_code == 200


async def test_readyz_is_degraded_not_503_when_redis_is_unreachable(database_url: str) -> None:
    # Nothing listens on port 1. The process serves without Redis, so a load balancer
    # must keep sending it requests.
    settings = make_settings(database_url, "redis://127.0.0.1:1/0")
    async with running_app(settings) as app, client_for(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")


def sample(metrics: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_requests_by_route_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    ok = {"method": "GET", "route": "/healthz", "status": "200"}
    missing_user = {"method": "GET", "route": "/v1/users/{user_id}", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    total = "commbase_http_requests_total"
    before = await scrape(client)

    for _ in range(3):
        await client.get("/healthz")
    await client.get("/v1/users/usr_nobody", headers=tenant.headers)
    await client.get("/v1/users/usr_nobody_else", headers=tenant.headers)
    await client.get("/no/such/page")

    after = await scrape(client)
    assert sample(after, total, ok) - sample(before, total, ok) == 3
    assert sample(after, total, missing_user) - sample(before, total, missing_user) == 2
    assert sample(after, total, unmatched) - sample(before, total, unmatched) == 1
    assert "/v1/users/usr_nobody" not in after
    latency = "commbase_http_request_duration_seconds_count"
    route = {"method": "GET", "route": "/healthz"}
    assert sample(after, latency, route) - sample(before, latency, route) == 3


async def test_metrics_count_cache_hits_and_misses(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    name = "commbase_cache_requests_total"
    hit, miss = {"cache": "default", "result": "hit"}, {"cache": "default", "result": "miss"}
    before = await scrape(client)

    # The first request looks the key up and caches it; the next two are served from cache.
    for _ in range(3):
        assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 200

    after = await scrape(client)
    assert sample(after, name, miss) - sample(before, name, miss) == 1
    assert sample(after, name, hit) - sample(before, name, hit) == 2


async def test_metrics_count_refused_requests(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(
        database_url, redis_url, rate_limit_tiers={"standard": {"limit": 1, "window_s": 3600}}
    )
    async with running_app(settings) as app, client_for(app) as client:
        tenant = await make_tenant(app)
        before = await scrape(client)
        statuses = [
            (await client.get("/v1/me", headers=tenant.headers)).status_code for _ in range(3)
        ]
        after = await scrape(client)

    assert statuses == [200, 429, 429]
    labels = {"policy": "standard"}
    name = "commbase_rate_limited_total"
    assert sample(after, name, labels) - sample(before, name, labels) == 2
