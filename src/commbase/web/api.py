"""``/v1`` requests the dashboard sends through the application itself.

Sign-in, sign-out, the settings page's changes, the video pages' joins and the
forwarding of the browser's ``/v1`` GETs (CSV downloads) are ``/v1`` requests sent in
process (``httpx.ASGITransport``) with the signed-in user's session token: the same
routes, scopes, validation and rate limits, counted as the organization's API traffic.
The pages' figures are not: :mod:`commbase.web.reads` calls the read routes'
functions directly, and turns their refusals into :class:`ApiRefused` too.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from commbase.core.problems import problem_response

BASE_URL = "http://commbase.internal"


class ApiRefused(Exception):
    """A ``/v1`` request answered with an error: its status and problem detail."""

    def __init__(
        self, status: int, detail: str, path: str, *, retry_after: str | None = None
    ) -> None:
        super().__init__(f"{path}: {status} {detail}")
        self.status = status
        self.detail = detail
        self.path = path
        self.retry_after = retry_after


class Api:
    """``/v1`` requests on behalf of one signed-in user."""

    def __init__(self, app: FastAPI, token: str | None, *, client_ip: str = "127.0.0.1") -> None:
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(client_ip, 0)),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=30,
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def send(
        self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None
    ) -> httpx.Response:
        """The raw answer (for CSV and for forwarding)."""
        return await self._http.request(method, path, params=params, json=json)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The JSON body of a successful GET; ``ApiRefused`` otherwise."""
        return _body(await self.send("GET", path, params=params), path)

    async def post(self, path: str, json: Any = None) -> Any:
        return _body(await self.send("POST", path, json=json), path)

    async def delete(self, path: str) -> None:
        _body(await self.send("DELETE", path), path)


def _body(response: httpx.Response, path: str) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        problem = response.json()
        detail = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
    except ValueError:
        detail = response.reason_phrase
    raise ApiRefused(
        response.status_code, detail, path, retry_after=response.headers.get("retry-after")
    )


async def refused_response(request: Request, exc: Exception) -> Response:
    """A page whose ``/v1`` request or read was refused and that did not handle it
    answers with that refusal (a 429 keeps its ``Retry-After``), not with a 500: the page's own
    user hit the limit or the service is unavailable, nothing crashed."""
    assert isinstance(exc, ApiRefused)
    status = exc.status if exc.status in (429, 503) else 502
    return problem_response(
        status=status,
        code={429: "rate-limited", 503: "service-unavailable"}.get(status, "upstream-refused"),
        title={429: "Too many requests", 503: "Service unavailable"}.get(
            status, "A read behind this page failed"
        ),
        detail=exc.detail if status != 502 else f"{exc.path} answered {exc.status}",
        instance=request.url.path,
        headers={"Retry-After": exc.retry_after} if exc.retry_after else None,
    )
