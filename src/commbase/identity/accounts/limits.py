"""Limits on the account routes: emails per address and per IP, link tokens per IP.

They count known and unknown addresses alike, so a limit reveals nothing.
"""

from __future__ import annotations

from fastapi import Request

from commbase.core.auth import enforce_rate_limit
from commbase.core.ratelimit import RateLimitRule
from commbase.identity.service import normalize_email
from commbase.settings import Settings

HOUR_S = 3600
WINDOW_S = 15 * 60


async def count_account_email(
    request: Request, *, settings: Settings, email: str, ip: str | None
) -> None:
    """One account email asked for ``email`` from ``ip``: 429 past
    ``account_email_limit`` per address per hour (ten times that per IP)."""
    await enforce_rate_limit(
        request,
        key=f"account-email:{normalize_email(email)}",
        rule=RateLimitRule("account-email", settings.account_email_limit, HOUR_S),
    )
    await enforce_rate_limit(
        request,
        key=f"account-email-ip:{ip}",
        rule=RateLimitRule("account-email-ip", settings.account_email_limit * 10, HOUR_S),
    )


async def count_token_attempt(request: Request, *, settings: Settings, ip: str | None) -> None:
    """One link token tried from ``ip``: counted with the sign-in attempts per IP."""
    await enforce_rate_limit(
        request,
        key=f"account-token-ip:{ip}",
        rule=RateLimitRule("account-token-ip", settings.login_ip_limit, WINDOW_S),
    )
