"""Bad query parameters on every /dashboard route (outside OpenAPI, so the bad-input
suite and the fuzz do not reach them): garbage ranges, huge custom ranges, unknown
time zones, naive or aware date-times where dates go -- a clear 4xx that names the
problem, never a 500 and never a silent guess. On SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from commbase.web.pages import PAGES
from tests.identity.factories import Tenant, login, make_tenant

# query -> words the 400 page says
REFUSED = {
    "range=nonsense": "Unknown range",
    "range=" + "x" * 500: "Unknown range",
    "tz=Mars/Olympus": "Unknown time zone",
    "tz=Europe/../../etc/passwd": "Unknown time zone",
    "tz=" + quote("UTC\n<script>"): "Unknown time zone",
    "interval=fortnight": "Unknown interval",
    "compare=maybe": "compare is 1 or 0",
    "account=" + "x" * 300: "at most 64 characters",
    "range=custom&from=2026-02-30&to=2026-03-02": "from is a date",
    "range=custom&from=2026-03-01&to=yesterday": "to is a date",
    "range=custom&from=2026-03-01T10:00:00&to=2026-03-02": "from is a date",  # naive
    "range=custom&from=2026-03-01T00:00:00%2B01:00&to=2026-03-02": "from is a date",
    "range=custom&from=2026-W09-1&to=2026-03-02": "from is a date",
    "range=custom&from=20260301&to=2026-03-02": "from is a date",
    "range=custom&from=1800-01-01&to=2026-03-02": "from lies between",
    "range=custom&from=2026-03-01&to=9999-01-01": "to lies between",
    "range=custom&from=2000-01-01&to=2099-12-31": "at most 3660 days",  # huge
    "range=custom&from=2026-03-10&to=2026-03-01": "ends (to) before it starts",
    "range=custom&from=2026-03-10": "needs both from and to",
    "range=7d&from=garbage": "from is a date",
}
# Valid, if odd: still the page.
ACCEPTED = (
    "",
    "range=90d&interval=hour",  # the form keeps "hour" as the range grows: days then
    "range=custom&from=2026-03-01&to=2026-03-01&interval=hour",
    "range=month&interval=week&compare=0&tz=Asia/Kathmandu",
    "range=today&interval=hour&tz=America/St_Johns",
    "range=&tz=&interval=&from=&to=&account=&compare=",  # an empty form: the defaults
    "unknown=1&org_id=x",
)


async def _signed_in(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    return {"Cookie": f"cb_dash={await login(client, tenant.owner_email)}"}


@pytest.mark.parametrize("slug", sorted(PAGES))
async def test_bad_filters_are_a_clear_400_on_every_page(
    app: FastAPI, client: httpx.AsyncClient, slug: str
) -> None:
    headers = await _signed_in(client, await make_tenant(app))
    for query, says in REFUSED.items():
        for partial in ("", "&partial=1"):  # the live refresh too
            answer = await client.get(f"/dashboard/{slug}?{query}{partial}", headers=headers)
            assert answer.status_code == 400, (query, answer.status_code)
            assert says in answer.text, query
            assert "<script>" not in answer.text
    for query in ACCEPTED:
        answer = await client.get(f"/dashboard/{slug}?{query}", headers=headers)
        assert answer.status_code == 200, (query, answer.text[:300])
        assert 'class="card"' in answer.text, query


async def test_other_dashboard_routes_refuse_bad_parameters_without_a_500(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await _signed_in(client, await make_tenant(app))
    # Forwarded /v1 reads: the API's own 4xx, passed on.
    for query in (
        "metrics=calls.total&from=garbage",
        "metrics=calls.total&from=2026-03-01T00:00:00",  # naive
        "metrics=calls.total&from=2026-03-01",  # a date without a time and offset
        "metrics=calls.total&from=2000-01-01T00:00:00Z&to=2099-01-01T00:00:00Z",  # huge
        "metrics=calls.total&tz=Mars/Olympus",
        "metrics=calls.total&interval=fortnight",
        "metrics=calls.total&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
        "metrics=nope.nothing",
        "metrics=calls.total&interval=hour&from=2000-01-01T00:00:00Z&to=2009-01-01T00:00:00Z",
    ):
        for path in ("series", "series.csv"):
            url = f"/dashboard/api/v1/analytics/{path}?{query}"
            answer = await client.get(url, headers=headers)
            assert 400 <= answer.status_code < 500, (path, query, answer.status_code)
            assert answer.headers["content-type"].startswith("application/problem+json")
    for query in ("months=0", "months=lots", "trailing_months=99"):
        url = f"/dashboard/api/v1/billing/mrr-forecast?{query}"
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 422, query
    for path in (
        "/dashboard/static/..%2F..%2Fetc%2Fpasswd",
        "/dashboard/static/" + "x" * 100,
        "/dashboard/static/nothing.js",
        "/dashboard/" + "x" * 100,
        "/dashboard/nothing",
    ):
        answer = await client.get(path, headers=headers)
        assert 400 <= answer.status_code < 500, path
    for target in ("//evil.example/x", "https://evil.example/", "/dashboard/../v1/me", "x" * 5000):
        answer = await client.get(f"/dashboard/login?next={quote(target)}")
        assert answer.status_code == 200, target
        assert "evil.example" not in answer.text
    if any(getattr(r, "path", "") == "/dashboard/video/{room_id}" for r in app.routes):
        for room in ("x" * 300, "vid_../../v1", "nothing"):
            answer = await client.get(f"/dashboard/video/{quote(room)}", headers=headers)
            assert 400 <= answer.status_code < 500, room
