"""The API documentation and the metrics are operator surfaces: open while developing,
off (or behind a token) in production unless the operator says otherwise."""

from __future__ import annotations

import pytest

from commbase.settings import Settings
from tests.conftest import client_for, make_settings
from tests.core.conftest import assert_problem, running_app

DOCS = ("/docs", "/redoc", "/openapi.json")
TOKEN = "metrics-token-0123456789abcdef"


async def _statuses(settings: Settings, headers: dict[str, str] | None = None) -> dict[str, int]:
    async with running_app(settings) as app, client_for(app) as client:
        return {
            path: (await client.get(path, headers=headers)).status_code
            for path in (*DOCS, "/metrics")
        }


async def test_development_serves_docs_and_metrics_to_anyone(database_url: str) -> None:
    settings = make_settings(database_url, None, env="development")

    assert await _statuses(settings) == dict.fromkeys((*DOCS, "/metrics"), 200)


async def test_production_hides_docs_and_metrics_by_default(database_url: str) -> None:
    settings = make_settings(database_url, None, env="production")

    async with running_app(settings) as app, client_for(app) as client:
        for path in (*DOCS, "/metrics"):
            assert_problem(await client.get(path), 404, "not-found")
        # The API itself is unchanged.
        assert (await client.get("/healthz")).status_code == 200
        # The application still knows its schema (for tools run beside it).
        assert "/v1/me" in app.openapi()["paths"]


async def test_production_serves_docs_when_enabled(database_url: str) -> None:
    settings = make_settings(database_url, None, env="production", docs_enabled=True)

    statuses = await _statuses(settings)

    assert [statuses[path] for path in DOCS] == [200, 200, 200]
    assert statuses["/metrics"] == 404


async def test_development_can_turn_docs_off(database_url: str) -> None:
    settings = make_settings(database_url, None, env="development", docs_enabled=False)

    statuses = await _statuses(settings)

    assert [statuses[path] for path in DOCS] == [404, 404, 404]


@pytest.mark.parametrize("env", ["development", "production"])
async def test_a_metrics_token_guards_metrics(database_url: str, env: str) -> None:
    settings = make_settings(database_url, None, env=env, metrics_token=TOKEN)

    async with running_app(settings) as app, client_for(app) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        api_key_like = await client.get("/metrics", headers={"Authorization": "Bearer cb_live_x"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert_problem(anonymous, 401, "authentication-required")
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="commbase metrics"'
    assert_problem(wrong, 401, "invalid-credentials")
    assert_problem(api_key_like, 401, "invalid-credentials")
    assert right.status_code == 200
    assert right.headers["content-type"].startswith("text/plain")
    assert "commbase_http_requests_total" in right.text


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValueError, match="COMMBASE_METRICS_TOKEN must be at least 16"):
        Settings(_env_file=None, metrics_token="short")


def test_defaults_follow_the_environment() -> None:
    development = Settings(_env_file=None)
    production = Settings(_env_file=None, env="production", secret_key="s" * 40)

    assert (development.serves_docs, development.metrics_open) == (True, True)
    assert (production.serves_docs, production.metrics_open) == (False, False)
