"""The intake principal: who is posting a website form, checked on every request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from commbase.core.auth import bearer_token, client_info, enforce_rate_limit
from commbase.core.db import DbSession
from commbase.core.errors import AuthenticationRequired, OriginNotAllowed, ScopeMissing
from commbase.core.ratelimit import RateLimitRule
from commbase.core.scopes import IntakeScope
from commbase.engagement.intake.cors import allow_origin
from commbase.identity.publishable_keys import service as publishable_keys
from commbase.identity.publishable_keys.schemas import normalize_origin


@dataclass(frozen=True, slots=True)
class IntakePrincipal:
    """A website visitor posting with an organization's publishable key."""

    org_id: str
    key_id: str
    scopes: frozenset[str]
    origin: str
    ip: str | None

    def require(self, scope: IntakeScope) -> None:
        if scope.value not in self.scopes:
            raise ScopeMissing(
                f"This publishable key lacks the scope {scope.value}", required=[scope.value]
            )


def _origin_of(request: Request) -> str | None:
    raw = request.headers.get("origin")
    if not raw or raw == "null":
        return None
    try:
        return normalize_origin(raw)
    except ValueError:
        return None


async def _intake_principal(request: Request, session: DbSession) -> IntakePrincipal:
    """Resolve the publishable key, count the request against the visitor's IP, then
    check the Origin header against the key's list (in that order: a refused origin
    still counts)."""
    token = bearer_token(request)
    if token is None:
        raise AuthenticationRequired(
            "Send 'Authorization: Bearer <publishable key>' (cb_pub_...)",
            headers={"WWW-Authenticate": 'Bearer realm="commbase-intake"'},
        )
    settings = request.app.state.settings
    key = await publishable_keys.resolve(
        session, token=token, secret=settings.secret_key.get_secret_value()
    )
    # Counted like API keys (identity.usage): every request the key opened, refused
    # ones included, written every few seconds.
    await request.app.state.usage.touch(key.id)
    client = client_info(request)
    origin = _origin_of(request)
    allowed = origin is not None and origin in key.allowed_origins
    if allowed:  # the browser may read the answer, a 429 included
        allow_origin(request, request.headers["origin"])
    await enforce_rate_limit(
        request,
        key=f"intake:{key.id}:{client.ip}",
        rule=RateLimitRule("intake", key.rate_limit_per_minute, 60),
    )
    if origin is None or not allowed:
        raise OriginNotAllowed(
            "This publishable key works only from its allowed origins"
            + ("" if origin else " (the request has no Origin header)")
        )
    return IntakePrincipal(
        org_id=key.org_id,
        key_id=key.id,
        scopes=frozenset(key.scopes),
        origin=origin,
        ip=client.ip,
    )


Intake = Annotated[IntakePrincipal, Depends(_intake_principal)]
