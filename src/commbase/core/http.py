"""Request plumbing: request ids, client address behind trusted proxies, body limits,
rate-limit headers and per-request metrics, as one pure ASGI middleware."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from fastapi import Request, params
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commbase.core.errors import UnsupportedMediaType
from commbase.core.ids import new_id
from commbase.core.problems import crash_response, problem_response

REQUESTS = Counter("commbase_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "commbase_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
log = structlog.get_logger("commbase.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None
    country: str | None
    city: str | None
    user_agent: str | None


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def ip_in(ip: str | None, networks: Iterable[Network]) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def header(scope: Scope, name: bytes) -> str | None:
    """The value of header ``name`` (lower-case bytes) in an ASGI scope."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def resolve_client(
    scope: Scope, *, trusted: list[Network], country_header: str, city_header: str
) -> ClientInfo:
    """Work out who is calling, believing proxy headers only from trusted proxies.

    X-Forwarded-For is read right to left, skipping trusted hops; the first
    untrusted address is the client.
    """
    peer = scope.get("client")
    ip: str | None = peer[0] if peer else None
    via_trusted = ip_in(ip, trusted)
    country = city = None
    if via_trusted:
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded:
            for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
                ip = hop
                if not ip_in(hop, trusted):
                    break
        country = header(scope, country_header.lower().encode())
        city = header(scope, city_header.lower().encode())
    return ClientInfo(
        ip=ip,
        country=(country or "").upper()[:2] or None,
        city=(city or None) and city[:100],
        user_agent=(header(scope, b"user-agent") or None),
    )


class RequestContextMiddleware:
    """Assign a request id, resolve the client, cap the body, add rate-limit headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: list[str],
        country_header: str,
        city_header: str,
        max_body_bytes: int,
        log_requests: bool = True,
    ) -> None:
        self.app = app
        # False when INFO lines are filtered out anyway: building the logger for a
        # line that is dropped cost every request a few microseconds.
        self.log_requests = log_requests
        self.trusted = parse_networks(trusted_proxies)
        self.country_header = country_header
        self.city_header = city_header
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else new_id("req")
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client"] = resolve_client(
            scope,
            trusted=self.trusted,
            country_header=self.country_header,
            city_header=self.city_header,
        )
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": 0}

        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            response = problem_response(
                status=413,
                code="payload-too-large",
                title="The request body is too large",
                detail=f"Bodies are limited to {self.max_body_bytes} bytes",
                headers={"X-Request-Id": request_id},
            )
            await response(scope, receive, send)
            structlog.contextvars.unbind_contextvars("request_id")
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            # No database column can hold NUL; refuse it before any lookup sees it.
            response = problem_response(
                status=400,
                code="invalid-request",
                title="The request is malformed",
                detail="The URL must not contain NUL characters",
                headers={"X-Request-Id": request_id},
            )
            await response(scope, receive, send)
            structlog.contextvars.unbind_contextvars("request_id")
            return

        received = 0
        limit = self.max_body_bytes

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["started"] = 1
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                ratelimit = state.get("ratelimit")
                if ratelimit is not None:
                    present = {k.lower() for k, _ in headers}
                    for name, value in ratelimit.headers().items():
                        if name.lower().encode() not in present:
                            headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, capped_receive, send_with_headers)
        except _BodyTooLarge:
            if status_holder["started"]:
                raise
            response = problem_response(
                status=413,
                code="payload-too-large",
                title="The request body is too large",
                detail=f"Bodies are limited to {self.max_body_bytes} bytes",
                headers={"X-Request-Id": request_id},
            )
            await response(scope, receive, send)
            status_holder["status"] = 413
        except Exception as exc:
            # The one place an unhandled error is logged: it is not raised further, so
            # neither Starlette's error middleware nor the server logs it a second time.
            response = crash_response(exc, path=scope["path"])
            if not status_holder["started"]:
                await response(scope, receive, send_with_headers)
            status_holder["status"] = response.status_code
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], template, str(status_holder["status"])).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            if self.log_requests:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status_holder["status"],
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, with any parameters."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


async def json_bodies_only(request: Request) -> None:
    """Refuse with 415 a body that is not JSON sent to a route that reads a JSON body.

    Routes that read their body themselves (signed provider callbacks take form
    posts, the event batch takes NDJSON) declare no body model and are left alone.
    """
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    if body_field is None or isinstance(body_field.field_info, params.Form):
        return
    content_type = request.headers.get("content-type")
    if is_json_media_type(content_type) or not await request.body():
        return
    raise UnsupportedMediaType(
        f"This route reads a JSON body; send it with Content-Type: application/json "
        f"(got {content_type or 'no Content-Type'})",
        accepted=["application/json"],
    )


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``; FastAPI re-raises HTTPExceptions met while reading a body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Bodies are limited to {limit} bytes")


def client_of(state: dict[str, Any]) -> ClientInfo:
    client = state.get("client")
    return client if isinstance(client, ClientInfo) else ClientInfo(None, None, None, None)


NO_STORE = {"Cache-Control": "no-store"}
ShownOnce = TypeVar("ShownOnce", bound=BaseModel)


def shown_once(
    response: Response, model: type[ShownOnce], read: BaseModel, **secrets: str
) -> ShownOnce:
    """A response that carries a secret for the only time (a key, a token, a signing
    secret): ``read`` plus the secrets, marked so that no cache keeps it."""
    response.headers.update(NO_STORE)
    return model.model_validate({**read.model_dump(), **secrets})
