"""The sign-in limits: every password check counts, per email and per IP address."""

from __future__ import annotations

from fastapi import Request

from commbase.core.auth import enforce_rate_limit
from commbase.core.ratelimit import RateLimitRule
from commbase.identity.service import normalize_email
from commbase.settings import Settings

WINDOW_S = 15 * 60


async def count_password_attempt(
    request: Request, *, settings: Settings, email: str, ip: str | None
) -> None:
    """Count one password check for ``email`` from ``ip``; 429 once either has had
    ``login_email_limit`` / ``login_ip_limit`` checks in the last 15-minute window.

    Sign-in and ``POST /v1/me/password`` share these counters, so a stolen session
    cannot guess the password faster than the sign-in form allows.
    """
    await enforce_rate_limit(
        request,
        key=f"email:{normalize_email(email)}",
        rule=RateLimitRule("login-email", settings.login_email_limit, WINDOW_S),
    )
    await enforce_rate_limit(
        request,
        key=f"ip:{ip}",
        rule=RateLimitRule("login-ip", settings.login_ip_limit, WINDOW_S),
    )
