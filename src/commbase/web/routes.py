"""``/dashboard``: sign-in, the six pages, their live stream and the read-only
forwarding of ``/v1`` GETs for the browser (CSV downloads)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, StreamingResponse

from commbase.core.time import utcnow
from commbase.web import cookies, figures
from commbase.web.api import ApiRefused
from commbase.web.filters import RANGES, FilterError, Filters
from commbase.web.forms import csrf_ok, read_form, refused, to_login
from commbase.web.live import LiveNotifier
from commbase.web.pages import PAGES, PageSpec
from commbase.web.reads import Reads
from commbase.web.settings_routes import router as settings_router
from commbase.web.settings_routes import settings_page
from commbase.web.templating import render
from commbase.web.viewer import Viewer, api_for, current_viewer

router = APIRouter(prefix="/dashboard", include_in_schema=False)
STATIC = Path(__file__).parent / "static"
STATIC_FILES = {
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
HEARTBEAT_S = 15.0
INTERVALS = ("hour", "day", "week", "month")


# ------------------------------------------------------------------ sign-in


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard/executive", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str = "/dashboard/executive") -> Response:
    token = cookies.login_csrf(request)
    response = render("login.html", csrf=token, next=_safe_next(next), error=None)
    cookies.set_login_csrf(request, response, token)
    return response


def _safe_next(target: str) -> str:
    return (
        target
        if target.startswith("/dashboard/") and "//" not in target
        else "/dashboard/executive"
    )


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(cookies.LOGIN_CSRF_COOKIE)
    if not cookies.same(form.get(cookies.CSRF_FIELD), expected):
        return refused("The form expired or did not come from this site; reload it and sign in.")
    body = {"email": form.get("email", ""), "password": form.get("password", "")}
    if form.get("organization"):
        body["organization"] = form["organization"]
    async with api_for(request, None) as api:
        answer = await api.send("POST", "/v1/auth/login", json=body)
    if not answer.is_success:
        problem = answer.json() if answer.content else {}
        error = problem.get("detail") or "Sign-in failed"
        return render(
            "login.html",
            status_code=answer.status_code,
            csrf=expected,
            next=_safe_next(form.get("next", "")),
            error=error,
        )
    signed = answer.json()
    response = RedirectResponse(_safe_next(form.get("next", "")), status_code=303)
    cookies.set_session(request, response, signed["token"], signed_expires(signed["expires_at"]))
    response.delete_cookie(cookies.LOGIN_CSRF_COOKIE, path="/dashboard")
    return response


def signed_expires(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@router.post("/logout")
async def logout(request: Request) -> Response:
    viewer = await current_viewer(request)
    response = RedirectResponse("/dashboard/login", status_code=303)
    if viewer is not None:
        if not csrf_ok(viewer, await read_form(request)):
            return refused("The form did not carry this session's CSRF token.")
        async with api_for(request, viewer.token) as api:
            await api.send("POST", "/v1/auth/logout")
    cookies.clear_session(request, response)
    return response


# ------------------------------------------------------------------ pages


@router.get("/static/{name}")
async def static(name: Annotated[str, PathParam(max_length=40)]) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return Response(
        (STATIC / name).read_bytes(),
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/events")
async def events(request: Request) -> Response:
    """Server-Sent Events: ``change`` whenever the organization's facts change."""
    viewer = await current_viewer(request)
    if viewer is None:
        return Response(status_code=401)
    notifier = notifier_of(request)
    queue = notifier.subscribe(viewer.org_id)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"
                    continue
                yield f"event: change\ndata: {message}\n\n"
        finally:
            notifier.unsubscribe(viewer.org_id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def notifier_of(request: Request) -> LiveNotifier:
    state = request.app.state
    notifier: LiveNotifier | None = getattr(state, "dashboard_notifier", None)
    if notifier is None:
        notifier = LiveNotifier(state.db, state.settings.redis_url)
        state.dashboard_notifier = notifier
    return notifier


@router.get("/api/v1/{path:path}")
async def forward(request: Request, path: str) -> Response:
    """A ``/v1`` GET with the cookie's session (CSV downloads, the page's scripts)."""
    viewer_token = cookies.session_token(request)
    if viewer_token is None:
        return Response(status_code=401)
    async with api_for(request, viewer_token) as api:
        answer = await api.send("GET", f"/v1/{path}", params=dict(request.query_params))
    kept = {
        k: v
        for k, v in answer.headers.items()
        if k.lower() in ("content-type", "content-disposition")
    }
    return Response(
        answer.content,
        status_code=answer.status_code,
        headers={**kept, "Cache-Control": "no-store"},
    )


@router.get("/{page}")
async def page(request: Request, page: Annotated[str, PathParam(max_length=40)]) -> Response:
    spec = PAGES.get(page)
    if spec is None:
        if page == "settings":
            return await settings_page(request)
        return render("message.html", status_code=404, title="Not found", message="No such page.")
    viewer = await current_viewer(request)
    if viewer is None:
        return to_login(request)
    try:
        filters = Filters.parse(dict(request.query_params), default_tz=viewer.timezone)
    except FilterError as bad:
        return render("message.html", status_code=400, title="Bad filters", message=str(bad))
    reads = viewer.reads(request)
    partial = request.query_params.get("partial") == "1"
    # A live refresh replaces the figures only: the filter form keeps its accounts.
    listing = _no_accounts() if partial else account_choices(reads)
    shown, accounts = await asyncio.gather(figures.build(reads, spec, filters, utcnow()), listing)
    context = page_context(viewer, spec, filters, shown, accounts)
    if partial:
        return render("_figures.html", **context)
    return render("page.html", **context)


def page_context(
    viewer: Viewer,
    spec: PageSpec,
    filters: Filters,
    shown: figures.Figures,
    accounts: list[dict[str, str]],
) -> dict[str, Any]:
    """What ``page.html`` (and ``_figures.html``, a live refresh's part) is rendered with."""
    return {
        "viewer": viewer,
        "spec": spec,
        "pages": PAGES,
        "filters": filters,
        "figures": shown,
        "ranges": RANGES,
        "intervals": INTERVALS,
        "accounts": accounts,
        "charts_json": json.dumps({"currency": viewer.currency, "charts": shown.chart_json()}),
    }


async def _no_accounts() -> list[dict[str, str]]:
    return []


async def account_choices(reads: Reads) -> list[dict[str, str]]:
    try:
        answer = await reads.get("/v1/channel-accounts", {"limit": "50"})
    except ApiRefused:
        return []
    return [{"id": a["id"], "name": a.get("name") or a["id"]} for a in answer["data"]]


router.include_router(settings_router)
