"""CORS for public intake: browsers on a publishable key's allowed origins may call
``/v1/intake/...``; no other origin is told it may.

- **Preflight** (``OPTIONS`` with ``Access-Control-Request-Method``): a browser sends no
  credentials with it, so the key is not known yet. The origin is allowed when some
  active publishable key lists it; the answer is 204 naming that one origin, the intake
  methods and headers, and a max age. Any other origin gets 403 and no CORS headers.
- **Requests**: the intake principal marks the request's origin once it is on the key's
  list (``allow_origin``); the response then carries ``Access-Control-Allow-Origin``
  with that origin and exposes the rate-limit headers (so a 429 is readable too).
  Without the mark, no CORS header is sent.

Never ``*`` and never ``Access-Control-Allow-Credentials``: intake authenticates with
bearer tokens in headers, not cookies. For ``/v1/intake/`` this middleware alone speaks
CORS (headers from the general ``COMMBASE_CORS_ORIGINS`` middleware are replaced).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commbase.core.db import Database
from commbase.identity.publishable_keys import service as publishable_keys
from commbase.identity.publishable_keys.schemas import normalize_origin

INTAKE_PREFIX = "/v1/intake/"
METHODS = ("GET", "POST", "PUT")
ALLOW_HEADERS = "Authorization, Content-Type, X-Access-Token, Idempotency-Key"
EXPOSE_HEADERS = "RateLimit, RateLimit-Policy, Retry-After, X-Request-Id"
MAX_AGE_S = 600
_STATE_KEY = "intake_cors_origin"
_CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
)


def allow_origin(request: Request, origin: str) -> None:
    """Let the browser read this response: ``origin`` (the Origin header as sent) is on
    the publishable key's list."""
    setattr(request.state, _STATE_KEY, origin)


class IntakeCorsMiddleware:
    """Answers CORS for ``/v1/intake/`` from publishable keys' allowed origins."""

    def __init__(self, app: ASGIApp, *, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(INTAKE_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            scope["method"] == "OPTIONS"
            and origin is not None
            and "access-control-request-method" in headers
        ):
            response = await self._preflight(origin, headers["access-control-request-method"])
            await response(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                for name in _CORS_HEADERS:
                    del answer[name]
                allowed = state.get(_STATE_KEY)
                if allowed is not None and allowed == origin:
                    answer["Access-Control-Allow-Origin"] = allowed
                    answer["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
                if "origin" not in answer.get("vary", "").lower():
                    answer.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, method: str) -> Response:
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            normalized = None
        allowed = normalized == origin and method.upper() in METHODS
        if allowed:
            async with self.database.sessionmaker() as session:
                allowed = await publishable_keys.origin_is_allowed(session, origin=origin)
        if not allowed:
            return JSONResponse(
                {
                    "type": "/problems/origin-not-allowed",
                    "title": "The request's origin is not allowed for this key",
                    "status": 403,
                    "detail": "No publishable key allows this origin and method",
                },
                status_code=403,
                media_type="application/problem+json",
                headers={"Vary": "Origin"},
            )
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ", ".join(METHODS),
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": str(MAX_AGE_S),
                "Vary": "Origin",
            },
        )
