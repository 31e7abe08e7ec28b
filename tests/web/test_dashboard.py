"""The dashboard in headless Chromium against a real uvicorn server on SQLite with the
demo organization: sign-in, every page's figures equal the API's, a call placed
through the API moves the operational figure live, CSRF, roles and sign-out.

One server and one browser for the module. Screenshots of every page go to
``tests/web/artifacts/`` (gitignored; ``COMMBASE_TEST_ARTIFACTS`` moves them).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from commbase.app import create_app
from commbase.core.db import Database
from commbase.demo.catalog import DEMO_EMAIL, DEMO_PASSWORD
from commbase.demo.organization import load_demo
from commbase.identity import service as identity_service
from commbase.identity.roles import Role
from commbase.identity.schemas import UserCreate
from commbase.web.pages import PAGES
from tests.conftest import TEST_SECRET, in_thread, make_settings
from tests.web.conftest import ARTIFACTS, Server, free_port, no_chromium, serving

VIEWER_EMAIL = "viewer@acme.example"
VIEWER_PASSWORD = "viewer-password-123"
TZ = "Europe/Prague"

pytestmark = no_chromium
playwright_api = pytest.importorskip("playwright.sync_api")


async def _seed(url: str) -> str:
    """The demo organization plus a viewer; returns the demo API key."""
    database = Database(url)
    try:
        demo = await load_demo(database, secret=TEST_SECRET)
        async with database.sessionmaker() as session:
            org = await identity_service.find_organization(session, slug_or_id=demo.org_slug)
            assert org is not None
            await identity_service.create_user(
                session,
                data=UserCreate(
                    email=VIEWER_EMAIL,
                    password=VIEWER_PASSWORD,
                    first_name="Vera",
                    last_name="Viewer",
                    role=Role.VIEWER,
                ),
                org_id=org.id,
            )
            await session.commit()
        return demo.api_key
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    target = tmp_path_factory.mktemp("dashboard") / "commbase.db"
    shutil.copyfile(sqlite_template, target)
    url = f"sqlite+aiosqlite:///{target}"
    api_key = in_thread(lambda: _seed(url))
    # API outcomes are written only when the server stops: the technical page's api.*
    # cards and the API's answer after it read the same (unflushed) figures.
    app = create_app(make_settings(url, None, usage_flush_s=3600))
    with serving(app, free_port()) as base:
        started = Server(base, api_key)
        _visits(started)
        yield started


PAGEVIEWS = (  # visitor, path, referrer, utm_source
    ("v1", "/pricing", "https://news.example.org/a", "newsletter"),
    ("v1", "/signup", None, None),
    ("v2", "/pricing", "https://search.example.com/", None),
    ("v3", "/", None, "ads"),
)


def _visits(server: Server) -> None:
    """Web analytics for the demo organization (its history has none)."""
    for visitor, path, referrer, utm in PAGEVIEWS:
        body = {"url": f"https://acme.example{path}", "visitor_id": visitor}
        if referrer:
            body["referrer"] = referrer
        if utm:
            body["utm_source"] = utm
        answer = server.api("POST", "/v1/track/pageview", json=body)
        assert answer.status_code == 201, answer.text


def _sign_in(browser: Any, server: Server, email: str, password: str, *, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(server.base + "/dashboard/executive")
    assert "/dashboard/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/executive")
    return page


def _figures(page: Any) -> dict[str, float | None]:
    shown = page.eval_on_selector_all(
        ".card", "cards => cards.map(c => [c.dataset.metric, c.dataset.value])"
    )
    return {metric: None if value == "null" else float(value) for metric, value in shown}


def _local_midnight(day: date) -> str:
    return datetime.combine(day, clock(0), tzinfo=ZoneInfo(TZ)).isoformat()


def test_every_page_shows_the_apis_figures(browser: Any, server: Server) -> None:
    page = _sign_in(browser, server, DEMO_EMAIL, DEMO_PASSWORD)
    cookie = next(c for c in page.context.cookies() if c["name"] == "cb_dash")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    last = datetime.now(ZoneInfo(TZ)).date()
    first = last - timedelta(days=29)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for slug, spec in PAGES.items():
        query = f"range=custom&from={first}&to={last}&tz={TZ}&interval=day"
        page.goto(f"{server.base}/dashboard/{slug}?{query}")
        page.wait_for_selector(".card")
        page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
        assert page.get_by_role("heading", level=1).inner_text() == spec.title
        answer = server.api(
            "GET",
            "/v1/analytics/series",
            params={
                "metrics": ",".join(spec.cards),
                "from": _local_midnight(first),
                "to": _local_midnight(last + timedelta(days=1)),
                "tz": TZ,
                "interval": "day",
            },
        )
        assert answer.status_code == 200, answer.text
        expected = {s["metric"]: s["total"] for s in answer.json()["series"]}
        assert _figures(page) == pytest.approx(expected), slug
        # Each chart's CSV downloads through the cookie session.
        for link in page.locator("figure.chart a[download]").all():
            csv = page.request.get(server.base + link.get_attribute("href"))
            assert csv.status == 200
            assert csv.headers["content-type"].startswith("text/csv")
    page.goto(f"{server.base}/dashboard/executive?range=30d")
    assert (_figures(page)["calls.total"] or 0) > 0  # the demo month has calls
    page.goto(f"{server.base}/dashboard/web?range=today")
    assert _figures(page)["pageviews.total"] == len(PAGEVIEWS)
    top = page.get_by_role("table", name="Top pages")
    assert top.get_by_role("row").nth(1).inner_text().split("\t") == ["/pricing", "2"]
    page.context.close()


def _cells(page: Any, table: str) -> list[list[str]]:
    """The ``data-value`` of every cell of the table captioned ``table``."""
    rows = page.get_by_role("table", name=table).locator("tbody tr").all()
    return [
        [str(v) for v in row.locator("td").evaluate_all("tds => tds.map(t => t.dataset.value)")]
        for row in rows
    ]


def _money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}"


def test_new_figures_equal_the_apis(browser: Any, server: Server) -> None:
    """Calls in progress and per agent, visitors now, the MRR forecast: as the API says."""
    page = _sign_in(browser, server, DEMO_EMAIL, DEMO_PASSWORD)
    today = datetime.now(ZoneInfo(TZ)).date()
    query = f"range=custom&from={today - timedelta(days=29)}&to={today}&tz={TZ}&interval=day"
    page.goto(f"{server.base}/dashboard/operational?{query}")
    now = server.api("GET", "/v1/analytics/calls-in-progress").json()
    shown = _cells(page, "Calls in progress now")
    counts = [str(now[k]) for k in ("queued", "ringing", "in_progress", "total")]
    assert shown[0] == ["(all)", *counts]
    agents = server.api(
        "GET",
        "/v1/analytics/series",
        params={
            "metrics": "calls.total,calls.answered,calls.duration",
            "group_by": "user",
            "group_limit": "10",
            "from": _local_midnight(today - timedelta(days=29)),
            "to": _local_midnight(today + timedelta(days=1)),
            "tz": TZ,
            "compare": "false",
        },
    ).json()["series"]
    expected: dict[str, dict[str, str]] = {}
    for entry in agents:
        group = "(other agents)" if entry.get("other") else (entry["group"] or "(no member)")
        expected.setdefault(group, {})[entry["metric"]] = str(entry["total"])
    per_agent = _cells(page, "Calls per agent")
    assert per_agent  # the demo month has calls
    assert {row[0]: row[1:] for row in per_agent} == {
        group: [v["calls.total"], v["calls.answered"], v["calls.duration"]]
        for group, v in expected.items()
        if v["calls.total"] != "0"
    }
    page.goto(f"{server.base}/dashboard/web?range=today")
    live = server.api("GET", "/v1/analytics/live-visitors").json()
    assert live["visitors"] == len({v for v, *_ in PAGEVIEWS})
    assert _cells(page, "Visitors now")[0][1] == str(live["visitors"])
    page.goto(f"{server.base}/dashboard/financial?range=30d")
    forecast = server.api("GET", "/v1/billing/mrr-forecast").json()
    table = f"MRR forecast, next {forecast['months']} months"
    if not forecast["data"]:
        assert "No MRR yet." in page.get_by_role("table", name=table).inner_text()
    else:
        assert _cells(page, table) == [
            [
                item["currency"],
                _money(item["mrr"], item["currency"]),
                _money(item["monthly_net_new_mrr"], item["currency"]),
                *(_money(p["mrr"], item["currency"]) for p in item["forecast"]),
            ]
            for item in forecast["data"]
        ]
    page.screenshot(path=str(ARTIFACTS / "financial-forecast.png"), full_page=True)
    page.context.close()


def test_placing_a_call_moves_the_operational_figure_live(browser: Any, server: Server) -> None:
    page = _sign_in(browser, server, DEMO_EMAIL, DEMO_PASSWORD)
    page.goto(server.base + "/dashboard/operational?range=today")
    live = page.locator("#live-status")
    playwright_api.expect(live).to_have_text("Live", timeout=5000)
    card = page.locator('.card[data-metric="calls.total"]')
    before = float(card.get_attribute("data-value"))
    placed = server.api("POST", "/v1/calls", json={"to": "+14155550100"})
    assert placed.status_code in (200, 201), placed.text
    started = time.monotonic()
    playwright_api.expect(card).to_have_attribute("data-value", str(int(before) + 1), timeout=2000)
    assert time.monotonic() - started < 2.0
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    page.context.close()


def test_forms_without_the_csrf_token_are_refused(browser: Any, server: Server) -> None:
    page = _sign_in(browser, server, DEMO_EMAIL, DEMO_PASSWORD)
    page.goto(server.base + "/dashboard/settings")
    hook = "https://93.184.216.34/commbase"
    refused = page.request.post(
        server.base + "/dashboard/settings/webhooks",
        form={"url": hook, "event_types": "*"},
    )
    assert refused.status == 403
    assert "CSRF" in refused.text()
    listed = server.api("GET", "/v1/webhooks").json()["data"]
    assert hook not in [e["url"] for e in listed]
    # The page's own form carries it and works.
    page.get_by_label("URL").fill(hook)
    with page.expect_navigation():
        page.get_by_role("button", name="Add endpoint").click()
    assert page.url.endswith("/dashboard/settings")
    assert page.get_by_role("cell", name=hook, exact=True).is_visible()
    page.get_by_label("Name", exact=True).fill("Failing calls")
    page.get_by_label("Metric").select_option("calls.failure_rate")
    page.get_by_label("Threshold").fill("5")
    with page.expect_navigation():
        page.get_by_role("button", name="Add alert").click()
    alerts = server.api("GET", "/v1/analytics/alerts").json()["data"]
    assert [(a["name"], a["metric"], a["threshold"]) for a in alerts] == [
        ("Failing calls", "calls.failure_rate", 5)
    ]
    page.context.close()
    # Signing in needs the form's token too.
    context = browser.new_context()
    bare = context.request.post(
        server.base + "/dashboard/login", form={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert bare.status == 403
    assert not [c for c in context.cookies() if c["name"] == "cb_dash"]
    context.close()


def test_a_viewer_sees_pages_but_not_settings(browser: Any, server: Server) -> None:
    page = _sign_in(browser, server, VIEWER_EMAIL, VIEWER_PASSWORD, width=390)
    assert page.get_by_role("link", name="Settings").count() == 0
    page.screenshot(path=str(ARTIFACTS / "executive-phone.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling at phone width
    answer = page.goto(server.base + "/dashboard/settings")
    assert answer is not None
    assert answer.status == 403
    assert "Only owners and admins" in page.content()
    page.context.close()


def test_signing_out_ends_the_cookie_and_the_session(browser: Any, server: Server) -> None:
    page = _sign_in(browser, server, DEMO_EMAIL, DEMO_PASSWORD)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "cb_dash")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Executive"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/dashboard/login")
    assert not [c for c in page.context.cookies() if c["name"] == "cb_dash"]
    me = httpx.get(server.base + "/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 401
    page.goto(server.base + "/dashboard/executive")
    assert "/dashboard/login" in page.url
    page.context.close()
