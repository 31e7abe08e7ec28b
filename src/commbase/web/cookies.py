"""The dashboard's cookies and CSRF tokens.

A signed-in browser holds its login session token (``POST /v1/auth/login``) in an
HttpOnly, SameSite=Lax cookie, Secure when the request came over https. Every form
that changes something carries a CSRF token: before sign-in, a random value that
must match a cookie (double submit); after sign-in, an HMAC of the session token
under the server secret (a synchronizer token that dies with the session).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from fastapi import Request, Response

from commbase.core.http import ip_in, parse_networks

SESSION_COOKIE = "cb_dash"
LOGIN_CSRF_COOKIE = "cb_dash_csrf"
CSRF_FIELD = "csrf_token"


def session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    return token if token and token.startswith("cb_sess_") else None


def _secure(request: Request) -> bool:
    """Over https, directly or through a trusted proxy that says so."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    trusted = parse_networks(request.app.state.settings.trusted_proxies)
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and ip_in(peer, trusted)


def set_session(request: Request, response: Response, token: str, expires_at: datetime) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        expires=expires_at,
        path="/dashboard",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/dashboard", httponly=True, samesite="lax", secure=_secure(request)
    )


def session_csrf(token: str, *, secret: str) -> str:
    """The CSRF token of forms shown to the holder of ``token``."""
    return hmac.new(
        secret.encode(), b"dashboard-csrf:" + token.encode(), hashlib.sha256
    ).hexdigest()


def login_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's value if it has one, else a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
