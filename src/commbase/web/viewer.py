"""Who is looking at the dashboard: the cookie's login session, resolved by the API's
own authenticator and rate limit, and described by ``GET /v1/me``'s function
(:mod:`commbase.web.reads`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from commbase.core.auth import Authenticator, Principal, enforce_rate_limit
from commbase.core.errors import CommbaseError
from commbase.core.http import client_of
from commbase.web import cookies
from commbase.web.api import Api, ApiRefused
from commbase.web.reads import Reads, read_session

ADMIN_ROLES = frozenset({"owner", "admin"})


@dataclass(frozen=True, slots=True)
class Viewer:
    token: str
    org_id: str
    org_name: str
    timezone: str
    currency: str
    name: str
    role: str
    csrf: str
    principal: Principal

    def reads(self, request: Request) -> Reads:
        """The ``/v1`` reads of this view, as this viewer (:mod:`commbase.web.reads`)."""
        return Reads(request, self.principal)

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


def api_for(request: Request, token: str | None) -> Api:
    return Api(request.app, token, client_ip=client_of(request.scope["state"]).ip or "127.0.0.1")


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None when the cookie is missing, expired or revoked.

    The token is resolved as a ``/v1`` request's would be (the API's authenticator:
    organization, role, scopes, expiry, IP allow-list) and the view counts once against
    the session's rate limit (``RateLimited``: a 429 with ``Retry-After``); what the
    page then reads goes through :class:`Reads` with that principal, not through HTTP.
    """
    token = cookies.session_token(request)
    if token is None:
        return None
    principal = await _principal(request, token)
    if principal is None:
        return None
    await enforce_rate_limit(
        request, key=f"{principal.kind}:{principal.credential_id}", rule=principal.rate_limit
    )
    try:
        me: dict[str, Any] = await Reads(request, principal).get("/v1/me")
    except ApiRefused as refused:
        if refused.status in (401, 403):
            return None
        raise
    org = me["organization"]
    user = me.get("user") or {}
    secret = request.app.state.settings.secret_key.get_secret_value()
    return Viewer(
        token=token,
        org_id=org["id"],
        org_name=org["name"],
        timezone=org.get("timezone") or "UTC",
        currency=org.get("currency") or "USD",
        name=user.get("name") or user.get("email") or "",
        role=str(me.get("role") or "viewer"),
        csrf=cookies.session_csrf(token, secret=secret),
        principal=principal,
    )


async def _principal(request: Request, token: str) -> Principal | None:
    """The token's principal, as ``core.auth`` resolves a bearer token; None when it is
    refused (malformed, unknown, expired, revoked, from an IP its key does not allow)."""
    authenticator: Authenticator = request.app.state.authenticator
    try:
        async with read_session(request) as session:
            return await authenticator(
                session=session,
                token=token,
                client=client_of(request.scope["state"]),
                request=request,
            )
    except CommbaseError as refused:
        if refused.status in (401, 403):
            return None
        raise
