"""``/dashboard/settings``: owners and admins configure webhook endpoints and alerts.

Every change is a ``/v1`` request with the admin's session (the API validates it
and checks the scopes again); each form carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from commbase.analytics.enums import Comparator
from commbase.web.api import ApiRefused
from commbase.web.forms import csrf_ok, read_form, refused, to_login
from commbase.web.pages import PAGES
from commbase.web.templating import render
from commbase.web.viewer import Viewer, api_for, current_viewer

router = APIRouter(prefix="/settings", include_in_schema=False)  # under /dashboard
ADMINS_ONLY = "Only owners and admins configure alerts and webhooks."
CSRF_MISSING = "The form did not carry this session's CSRF token."
Id = Annotated[str, Path(max_length=80)]
ALERT_METRICS = (
    "calls.failure_rate",
    "calls.mos_avg",
    "calls.latency_avg",
    "calls.waiting_time_avg",
    "messages.failure_rate",
    "messages.delivery_rate",
    "revenue.charges",
    "events.quality_degraded",
)


async def settings_page(
    request: Request, *, error: str | None = None, status_code: int = 422
) -> Response:
    """The settings page; with ``error``, answered with ``status_code`` (the API's 4xx:
    another organization's id is a 404 here too)."""
    viewer = await current_viewer(request)
    if viewer is None:
        return to_login(request)
    if not viewer.is_admin:
        return refused(ADMINS_ONLY)
    async with api_for(request, viewer.token) as api:
        webhooks = (await api.get("/v1/webhooks", {"limit": "50"}))["data"]
        alerts = (await api.get("/v1/analytics/alerts", {"limit": "50"}))["data"]
    return render(
        "settings.html",
        status_code=200 if error is None else status_code,
        viewer=viewer,
        pages=PAGES,
        spec=None,
        webhooks=webhooks,
        alerts=alerts,
        metrics=ALERT_METRICS,
        comparators=[c.value for c in Comparator],
        error=error,
    )


async def _admin_form(request: Request) -> tuple[Viewer, dict[str, str]] | Response:
    """The signed-in admin and the posted form, or the answer that refuses them."""
    viewer = await current_viewer(request)
    if viewer is None:
        return to_login(request)
    form = await read_form(request)
    if not csrf_ok(viewer, form):
        return refused(CSRF_MISSING)
    if not viewer.is_admin:
        return refused(ADMINS_ONLY)
    return viewer, form


async def _send(request: Request, viewer: Viewer, method: str, path: str, body: Any) -> Response:
    async with api_for(request, viewer.token) as api:
        try:
            if method == "DELETE":
                await api.delete(path)
            else:
                await api.post(path, body)
        except ApiRefused as refusal:
            status = refusal.status if 400 <= refusal.status < 500 else 422
            return await settings_page(request, error=refusal.detail, status_code=status)
    return RedirectResponse("/dashboard/settings", status_code=303)


@router.post("/webhooks")
async def add_webhook(request: Request) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    viewer, form = checked
    events = [e.strip() for e in form.get("event_types", "*").split(",") if e.strip()] or ["*"]
    body = {"url": form.get("url", ""), "event_types": events}
    return await _send(request, viewer, "POST", "/v1/webhooks", body)


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_webhook(request: Request, endpoint_id: Id) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    return await _send(request, checked[0], "DELETE", f"/v1/webhooks/{endpoint_id}", None)


@router.post("/alerts")
async def add_alert(request: Request) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    viewer, form = checked
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "metric": form.get("metric", ""),
        "comparator": form.get("comparator", ""),
        "threshold": _number(form.get("threshold", "")),
        "window_minutes": _number(form.get("window_minutes") or "60"),
    }
    return await _send(request, viewer, "POST", "/v1/analytics/alerts", body)


def _number(raw: str) -> float | int | str:
    """A form's number as JSON wants it; anything else goes as sent, for the API to refuse."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() else value


@router.post("/alerts/{alert_id}/delete")
async def delete_alert(request: Request, alert_id: Id) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    return await _send(request, checked[0], "DELETE", f"/v1/analytics/alerts/{alert_id}", None)
