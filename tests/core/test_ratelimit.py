"""Fixed-window rate limits: the same behaviour in-process and in Redis, and over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from commbase.core.breaker import RedisBreaker
from commbase.core.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RateLimitRule,
    RedisRateLimiter,
)
from tests.conftest import client_for, make_settings
from tests.core.conftest import NOW_IN_WINDOW, WINDOW_START, FakeTime, assert_problem, running_app
from tests.identity.factories import PASSWORD, make_tenant

RULE = RateLimitRule("standard", 5, 60)


@pytest.fixture
async def limiter(backend: str, redis_client: Redis | None) -> AsyncIterator[RateLimiter]:
    if backend == "memory":
        yield MemoryRateLimiter()
    else:
        assert redis_client is not None
        yield RedisRateLimiter(redis_client)


# ---------------------------------------------------------------- the limiter


async def test_limit_allows_exactly_limit_hits_then_refuses(
    limiter: RateLimiter, limiter_time: FakeTime
) -> None:
    results = [await limiter.hit("key_a", RULE) for _ in range(RULE.limit + 2)]

    assert [r.allowed for r in results] == [True] * RULE.limit + [False, False]
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0, 0]


async def test_headers_follow_the_ietf_draft(limiter: RateLimiter, limiter_time: FakeTime) -> None:
    first = await limiter.hit("key_a", RULE)
    assert first.headers() == {
        "RateLimit-Policy": '"standard";q=5;w=60',
        "RateLimit": '"standard";r=4;t=42',
    }
    for _ in range(RULE.limit - 1):
        await limiter.hit("key_a", RULE)
    refused = await limiter.hit("key_a", RULE)
    assert refused.headers() == {
        "RateLimit-Policy": '"standard";q=5;w=60',
        "RateLimit": '"standard";r=0;t=42',
        "Retry-After": "42",
    }


async def test_keys_and_policies_count_separately(
    limiter: RateLimiter, limiter_time: FakeTime
) -> None:
    for _ in range(RULE.limit):
        await limiter.hit("key_a", RULE)
    assert not (await limiter.hit("key_a", RULE)).allowed

    assert (await limiter.hit("key_b", RULE)).remaining == 4
    other_policy = RateLimitRule("premium", 5, 60)
    assert (await limiter.hit("key_a", other_policy)).remaining == 4
    longer_window = RateLimitRule("standard", 5, 3600)
    assert (await limiter.hit("key_a", longer_window)).remaining == 4


async def test_hits_at_the_same_moment_each_get_their_own_count(
    limiter: RateLimiter, limiter_time: FakeTime, redis_client: Redis | None
) -> None:
    # Started together, the Redis limiter sends them in one pipeline; each is counted.
    other = RateLimitRule("premium", 3, 60)
    results = await asyncio.gather(
        *(limiter.hit("key_a", RULE) for _ in range(RULE.limit + 2)),
        *(limiter.hit("key_b", other) for _ in range(2)),
    )

    key_a, key_b = results[: RULE.limit + 2], results[RULE.limit + 2 :]
    assert sorted(r.remaining for r in key_a) == [0, 0, 0, 1, 2, 3, 4]
    assert [r.allowed for r in key_a].count(False) == 2
    assert sorted(r.remaining for r in key_b) == [1, 2]
    if redis_client is not None:  # the counts are Redis's, expiring after the window
        stored = await redis_client.get(f"cb:rl:standard:60:key_a:{WINDOW_START}")
        assert stored == b"7"
        assert 0 < await redis_client.ttl(f"cb:rl:standard:60:key_a:{WINDOW_START}") <= 61


async def test_a_redis_limiter_counts_in_memory_while_redis_fails(
    redis_client: Redis | None, limiter_time: FakeTime
) -> None:
    if redis_client is None:
        pytest.skip("the Redis limiter")
    broken = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens
    breaker = RedisBreaker(broken)
    limiter = RedisRateLimiter(broken, breaker=breaker)
    try:
        results = await asyncio.gather(*(limiter.hit("key_a", RULE) for _ in range(3)))
    finally:
        await breaker.close()
        await broken.aclose()

    assert sorted(r.remaining for r in results) == [2, 3, 4]


async def test_a_new_window_starts_a_new_count(
    limiter: RateLimiter, limiter_time: FakeTime
) -> None:
    for _ in range(RULE.limit + 1):
        await limiter.hit("key_a", RULE)

    limiter_time.now = WINDOW_START + 59.5
    late = await limiter.hit("key_a", RULE)
    assert not late.allowed
    assert late.reset_s == 1

    limiter_time.now = WINDOW_START + 60
    fresh = await limiter.hit("key_a", RULE)
    assert fresh.allowed
    assert fresh.remaining == 4
    assert fresh.reset_s == 60


async def test_reset_clears_the_current_window(
    limiter: RateLimiter, limiter_time: FakeTime
) -> None:
    for _ in range(RULE.limit + 1):
        await limiter.hit("key_a", RULE)

    await limiter.reset("key_a", RULE)

    assert (await limiter.hit("key_a", RULE)).remaining == 4


async def test_memory_limiter_forgets_ended_windows(limiter_time: FakeTime) -> None:
    memory = MemoryRateLimiter()
    for n in range(100):
        await memory.hit(f"client_{n}", RULE)
    limiter_time.now = NOW_IN_WINDOW + 120

    await memory.hit("late", RULE)

    assert memory._counts == {("standard:60:late", WINDOW_START + 120): 1}


# ---------------------------------------------------------------- over HTTP

TINY_TIERS = {
    "free": {"limit": 2, "window_s": 60},
    "standard": {"limit": 3, "window_s": 60},
    "premium": {"limit": 10, "window_s": 60},
}


async def test_api_key_limit_over_http(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_tiers=TINY_TIERS)
    async with running_app(settings) as app, client_for(app) as client:
        tenant = await make_tenant(app)
        seen = []
        for _ in range(3):
            response = await client.get("/v1/me", headers=tenant.headers)
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit-Policy"] == '"standard";q=3;w=60'
            seen.append(response.headers["RateLimit"])
        assert seen == ['"standard";r=2;t=42', '"standard";r=1;t=42', '"standard";r=0;t=42']

        refused = await client.get("/v1/me", headers=tenant.headers)

        body = assert_problem(refused, 429, "rate-limited")
        assert "3 requests per 60s" in str(body["detail"])
        assert refused.headers["Retry-After"] == "42"
        assert refused.headers.get_list("RateLimit") == ['"standard";r=0;t=42']
        assert refused.headers.get_list("RateLimit-Policy") == ['"standard";q=3;w=60']

        # Another credential has its own budget.
        other = await make_tenant(app)
        assert (await client.get("/v1/me", headers=other.headers)).status_code == 200


async def test_key_tier_sets_the_limit(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_tiers=TINY_TIERS)
    async with running_app(settings) as app, client_for(app) as client:
        tenant = await make_tenant(app)
        created = await client.post(
            "/v1/api-keys",
            json={"name": "free key", "rate_limit_tier": "free"},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        free = {"Authorization": f"Bearer {created.json()['key']}"}

        statuses = [(await client.get("/v1/me", headers=free)).status_code for _ in range(3)]

        assert statuses == [200, 200, 429]


async def test_changing_one_number_of_a_tier_keeps_the_rest(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    # As COMMBASE_RATE_LIMIT_TIERS__STANDARD__LIMIT=3 would.
    settings = make_settings(database_url, redis_url, rate_limit_tiers={"standard": {"limit": 3}})
    async with running_app(settings) as app, client_for(app) as client:
        tenant = await make_tenant(app)

        response = await client.get("/v1/me", headers=tenant.headers)

        assert response.status_code == 200, response.text
        assert response.headers["RateLimit-Policy"] == '"standard";q=3;w=60'


async def test_window_reset_over_http(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_tiers=TINY_TIERS)
    async with running_app(settings) as app, client_for(app) as client:
        tenant = await make_tenant(app)
        for _ in range(3):
            await client.get("/v1/me", headers=tenant.headers)
        assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 429

        limiter_time.now = WINDOW_START + 60

        again = await client.get("/v1/me", headers=tenant.headers)
        assert again.status_code == 200
        assert again.headers["RateLimit"] == '"standard";r=2;t=60'


async def test_instances_sharing_redis_share_the_count(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    if redis_url is None:
        pytest.skip("only Redis shares counters between processes")
    settings = make_settings(database_url, redis_url, rate_limit_tiers=TINY_TIERS)
    async with running_app(settings) as first, running_app(settings) as second:
        tenant = await make_tenant(first)
        async with client_for(first) as one, client_for(second) as two:
            assert (await one.get("/v1/me", headers=tenant.headers)).status_code == 200
            assert (await one.get("/v1/me", headers=tenant.headers)).status_code == 200

            third = await two.get("/v1/me", headers=tenant.headers)
            assert third.status_code == 200
            assert third.headers["RateLimit"] == '"standard";r=0;t=42'
            assert_problem(await two.get("/v1/me", headers=tenant.headers), 429, "rate-limited")
            assert_problem(await one.get("/v1/me", headers=tenant.headers), 429, "rate-limited")


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


async def test_anonymous_limit_is_per_client_ip(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(database_url, redis_url, anonymous_rate_limit=2)
    async with running_app(settings) as app:
        tenant = await make_tenant(app)
        async with (
            client_for(app, ip="198.51.100.1") as first,
            client_for(app, ip="198.51.100.2") as second,
        ):
            assert (await _login(first, tenant.owner_email, "wrong password")).status_code == 401
            ok = await _login(first, tenant.owner_email, PASSWORD)
            assert ok.status_code == 200, ok.text

            refused = await _login(first, tenant.owner_email, PASSWORD)
            assert_problem(refused, 429, "rate-limited")
            assert refused.headers["RateLimit-Policy"] == '"anonymous";q=2;w=60'
            assert refused.headers["Retry-After"] == "42"

            assert (await _login(second, tenant.owner_email, PASSWORD)).status_code == 200

        # Behind a trusted proxy the forwarded address is the client.
        async with client_for(app, ip="127.0.0.1") as proxy:
            forwarded = await proxy.post(
                "/v1/auth/login",
                json={"email": tenant.owner_email, "password": PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.1"},
            )
            assert_problem(forwarded, 429, "rate-limited")


async def test_login_attempts_are_limited_per_email_across_ips(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(database_url, redis_url, login_email_limit=2)
    async with running_app(settings) as app:
        tenant = await make_tenant(app)
        for n in range(2):
            async with client_for(app, ip=f"203.0.113.{n + 1}") as client:
                wrong = await _login(client, tenant.owner_email, "wrong password")
                assert_problem(wrong, 401, "invalid-credentials")

        async with client_for(app, ip="203.0.113.9") as client:
            # The right password does not help once the email's budget is spent,
            # whatever the case it is typed in.
            refused = await _login(client, tenant.owner_email.upper(), PASSWORD)
            body = assert_problem(refused, 429, "rate-limited")
            assert "per 900s" in str(body["detail"])
            assert refused.headers["RateLimit-Policy"] == '"login-email";q=2;w=900'

            other = await make_tenant(app)
            assert (await _login(client, other.owner_email, PASSWORD)).status_code == 200


async def test_invalid_login_body_is_refused_before_counting(
    database_url: str, redis_url: str | None, limiter_time: FakeTime
) -> None:
    settings = make_settings(database_url, redis_url, login_email_limit=1)
    async with running_app(settings) as app, client_for(app) as client:
        tenant = await make_tenant(app)
        for _ in range(3):
            bad = await client.post("/v1/auth/login", json={"email": tenant.owner_email})
            assert_problem(bad, 422, "validation-failed")

        assert (await _login(client, tenant.owner_email, PASSWORD)).status_code == 200
