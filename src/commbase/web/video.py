"""The video call pages: a guest's (``/video/join?token=``, public) and an agent's
(``/dashboard/video/{room_id}``, the dashboard's cookie sign-in), plus the browser
client they load (``/video/static/client.js``, no build step).

Both pages are shells around ``static/video/client.js``: the guest page asks
``POST /v1/video/guest/join`` from the browser. Opening the agent page joins nothing
(a supervisor looking, a prefetch or a link from another site must not take a seat,
connect the room or rotate the member's token): its "Join call" button posts to
``POST /dashboard/video/{id}/join`` with the session's CSRF token, which asks
``POST /v1/video/rooms/{id}/join`` in process with the signed-in member's session
(the API's ``join_as_member``: same scopes, tenancy and validation) and answers the
JoinGrant as JSON. The wrap-up form posts here with the session's CSRF token too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, RedirectResponse

from commbase.calls.video import credentials as video_credentials
from commbase.web.api import ApiRefused
from commbase.web.forms import csrf_ok, read_form, refused, to_login
from commbase.web.pages import PAGES
from commbase.web.templating import render
from commbase.web.viewer import Viewer, api_for, current_viewer

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static" / "video"
STATIC_FILES = {"client.js": "text/javascript", "video.css": "text/css"}
RoomId = Annotated[str, PathParam(max_length=40, pattern=r"^\w+$")]
OUTCOMES = ("resolved", "follow-up", "escalated", "not resolved", "no show")
# The navigation bar marks no dashboard page as current on a call page.
NAV_SPEC = {"slug": "video"}


def _config_json(config: dict[str, Any]) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(config, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _storage_key(kind: str, value: str) -> str:
    """The sessionStorage key of a page's grant; a digest so the key does not repeat a token."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@router.get("/video/static/{name}")
async def static(name: Annotated[str, PathParam(max_length=40)]) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return Response(
        (STATIC / name).read_bytes(),
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/video/join")
async def guest_page(
    request: Request, token: Annotated[str, Query(max_length=600)] = ""
) -> Response:
    """The customer's page; the link's token is checked again by the join request."""
    settings = request.app.state.settings
    if not token or video_credentials.read_guest_link(settings, token) is None:
        return render(
            "video_guest.html",
            status_code=403 if token else 400,
            error="This call link has expired or is not valid. Ask for a new link.",
            config_json=_config_json({}),
        )
    config = {"guest_token": token, "storage_key": _storage_key("guest", token), "grant": None}
    return render("video_guest.html", error=None, config_json=_config_json(config))


@router.get("/dashboard/video/{room_id}")
async def agent_page(request: Request, room_id: RoomId) -> Response:
    viewer = await current_viewer(request)
    if viewer is None:
        return to_login(request)
    return await _agent_page(request, viewer, room_id)


async def _agent_page(
    request: Request, viewer: Viewer, room_id: str, *, error: str | None = None
) -> Response:
    """The room as it stands; the page joins only when its Join button is pressed."""
    async with api_for(request, viewer.token) as api:
        try:
            room = await api.get(f"/v1/video/rooms/{room_id}")
        except ApiRefused as refusal:
            if refusal.status == 404:
                return render(
                    "message.html", status_code=404, title="Not found", message="No such call."
                )
            return refused(refusal.detail, refusal.status)
    config = {
        "storage_key": _storage_key("room", room_id),
        "ended": room["status"] == "ended",
    }
    return render(
        "video_agent.html",
        status_code=200 if error is None else 422,
        viewer=viewer,
        pages=PAGES,
        spec=NAV_SPEC,
        room=room,
        wrapped=room.get("outcome") is not None,
        outcomes=OUTCOMES,
        error=error,
        config_json=_config_json(config),
    )


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Refused", "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/dashboard/video/{room_id}/join")
async def join(request: Request, room_id: RoomId) -> Response:
    """Join the room as the signed-in member (the page's Join button): the JoinGrant as
    JSON, never stored by caches; the same participant again for the same member."""
    viewer = await current_viewer(request)
    if viewer is None:
        return _problem(401, "Sign in to the dashboard again.")
    form = await read_form(request)
    if not csrf_ok(viewer, form):
        return _problem(403, "The request did not carry this session's CSRF token.")
    body = {"name": viewer.name[:100]} if viewer.name else {}
    async with api_for(request, viewer.token) as api:
        try:
            grant = await api.post(f"/v1/video/rooms/{room_id}/join", body)
        except ApiRefused as refusal:
            return _problem(refusal.status, refusal.detail)
    return JSONResponse(grant, headers={"Cache-Control": "no-store"})


@router.post("/dashboard/video/{room_id}/wrap-up")
async def wrap_up(request: Request, room_id: RoomId) -> Response:
    viewer = await current_viewer(request)
    if viewer is None:
        return to_login(request)
    form = await read_form(request)
    if not csrf_ok(viewer, form):
        return refused("The form did not carry this session's CSRF token.")
    body: dict[str, Any] = {
        "problem_solved": form.get("problem_solved") == "true",
        "outcome": form.get("outcome", ""),
    }
    if form.get("notes"):
        body["notes"] = form["notes"]
    async with api_for(request, viewer.token) as api:
        try:
            await api.post(f"/v1/video/rooms/{room_id}/wrap-up", body)
        except ApiRefused as refusal:
            if refusal.status == 404:
                return render(
                    "message.html", status_code=404, title="Not found", message="No such call."
                )
            return await _agent_page(request, viewer, room_id, error=refusal.detail)
    return RedirectResponse(f"/dashboard/video/{room_id}", status_code=303)
