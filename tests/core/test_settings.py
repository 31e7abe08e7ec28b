"""Settings: read from COMMBASE_* variables; production refuses weak secrets."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
from pydantic import ValidationError

from commbase.settings import DEFAULT_SECRET_KEY, DEFAULT_TIERS, Settings, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No COMMBASE_* variable from the shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("COMMBASE_"):
            monkeypatch.delenv(name)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="COMMBASE_SECRET_KEY must be set"):
        settings(env="production")
    with pytest.raises(ValidationError, match="COMMBASE_SECRET_KEY must be set"):
        settings(env="production", secret_key=DEFAULT_SECRET_KEY)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="32\\+ characters"):
        settings(env="production", secret_key="x" * 31)


def test_production_accepts_a_long_random_secret() -> None:
    key = secrets.token_urlsafe(48)

    configured = settings(env="production", secret_key=key)

    assert configured.secret_key.get_secret_value() == key
    assert key not in repr(configured)


def test_development_runs_with_the_default_secret() -> None:
    assert settings().secret_key.get_secret_value() == DEFAULT_SECRET_KEY


def test_environment_variables_configure_commbase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMBASE_ENV", "production")
    monkeypatch.setenv("COMMBASE_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("COMMBASE_DATABASE_URL", "postgresql+asyncpg://db/commbase")
    monkeypatch.setenv("COMMBASE_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.setenv("COMMBASE_RATE_LIMIT_TIERS__STANDARD__LIMIT", "900")

    configured = settings()

    assert configured.env == "production"
    assert not configured.is_sqlite
    assert configured.trusted_proxies == ["10.0.0.0/8"]
    # One number changed; the rest of the tier table is still there.
    assert configured.rate_limit_tiers == {
        **DEFAULT_TIERS,
        "standard": {"limit": 900, "window_s": 60},
    }


def test_tiers_add_to_the_defaults_and_must_be_complete() -> None:
    configured = settings(rate_limit_tiers={"partner": {"limit": 50, "window_s": 10}})
    assert configured.rate_limit_tiers["partner"] == {"limit": 50, "window_s": 10}
    assert configured.rate_limit_tiers["standard"] == DEFAULT_TIERS["standard"]

    with pytest.raises(ValidationError, match="'partner' needs a positive limit and window_s"):
        settings(rate_limit_tiers={"partner": {"limit": 50}})
    with pytest.raises(ValidationError, match="'free' needs a positive limit and window_s"):
        settings(rate_limit_tiers={"free": {"limit": 0}})


def test_production_without_a_secret_in_the_environment_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMMBASE_ENV", "production")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError):
            get_settings()
    finally:
        get_settings.cache_clear()
