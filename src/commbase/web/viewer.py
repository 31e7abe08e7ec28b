"""Who is looking at the dashboard: the cookie's login session, resolved through
``GET /v1/me`` like any other client of the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from commbase.core.http import client_of
from commbase.web import cookies
from commbase.web.api import Api, ApiRefused

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

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


def api_for(request: Request, token: str | None) -> Api:
    return Api(request.app, token, client_ip=client_of(request.scope["state"]).ip or "127.0.0.1")


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None when the cookie is missing, expired or revoked."""
    token = cookies.session_token(request)
    if token is None:
        return None
    try:
        async with api_for(request, token) as api:
            me: dict[str, Any] = await api.get("/v1/me")
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
    )
