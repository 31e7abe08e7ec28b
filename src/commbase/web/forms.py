"""What every dashboard form handler needs: the body, the CSRF check, the answers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from commbase.web import cookies
from commbase.web.templating import render
from commbase.web.viewer import Viewer


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/dashboard/login?{urlencode({'next': target})}", status_code=303)


async def read_form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, max_num_fields=20).items()}


def refused(message: str, status_code: int = 403) -> Response:
    return render("message.html", status_code=status_code, title="Refused", message=message)


def csrf_ok(viewer: Viewer, form: dict[str, str]) -> bool:
    return cookies.same(form.get(cookies.CSRF_FIELD), viewer.csrf)
