"""Every dashboard page's reads, run once at a serving process's start-up.

A page's first view in a fresh process compiled each of its SQL statements (a few
dozen analytics statements a page: SQLAlchemy keeps compiled statements per engine,
keyed by the statement's shape, not its values) and ran the templates' code for the
first time. :func:`warm_up_pages` builds every page as its route does
(``figures.build`` and ``page.html``) for an organization that does not exist: the
same statements, on the same engine, each answering nothing, so a real view finds
them compiled. It writes nothing: its reads run on the read-request engine as a read
request's first pass (``core.readonly``: a write statement is refused before it
reaches the database), its analytics answers go to a cache of its own that is dropped
afterwards, and it neither authenticates nor counts a rate limit.

The statements depend on the viewer's time zone: a day of a half-hour zone
(Asia/Kolkata) or a quarter-hour zone (Asia/Kathmandu) begins inside an hour, so its
edges read quarter-hour rollups that a whole-hour zone's never do. The pages are
built in UTC and in one zone of each other kind the organizations use
(:func:`zones_to_warm`).
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import structlog
from fastapi import FastAPI, Request
from sqlalchemy import select

from commbase.analytics import dashboards
from commbase.analytics import routes as analytics_routes
from commbase.analytics.periods import zone
from commbase.core import readonly
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.cache import MemoryCache
from commbase.core.errors import NotFound, ValidationFailed
from commbase.core.ratelimit import RateLimitRule
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.identity.models import Organization
from commbase.identity.roles import scopes_for
from commbase.web import figures, routes
from commbase.web.api import ApiRefused
from commbase.web.filters import Filters
from commbase.web.pages import PAGES
from commbase.web.reads import Reads, read_session
from commbase.web.templating import environment
from commbase.web.viewer import Viewer

log = structlog.get_logger("commbase.warmup")

# No organization has this id (theirs are ``org_<ulid>``): every read answers nothing.
NOBODY = "org_warmup_nobody"
ROLE = "owner"  # every page's every read is allowed: each of its statements runs


# Organizations' zones read to choose the zones to warm up in; past that, one whole
# table's distinct zones would be a slow start for little.
ZONES_READ = 1000


async def warm_up_pages(app: FastAPI) -> list[str]:
    """Build and render every page once for :data:`NOBODY` in each of
    :func:`zones_to_warm`; the pages that failed (``page`` or ``page@zone``)."""
    state = _state(app)
    with readonly.read_pass():
        zones = await zones_to_warm(_request(state, "zones"))
        failed: list[str] = []
        for position, timezone in enumerate(zones):
            for slug in await _warm_pages(state, timezone, first=position == 0):
                failed.append(slug if timezone == "UTC" else f"{slug}@{timezone}")
    return failed


async def zones_to_warm(request: Request) -> list[str]:
    """UTC, then the first zone the organizations use of each other offset kind:
    an offset of whole hours, of half an hour past (Asia/Kolkata), of a quarter past
    or to (Asia/Kathmandu). Offsets as of now: a zone whose DST shift is half an
    hour (Australia/Lord_Howe) changes kind with the season, and is warmed as it is
    now."""
    async with read_session(request) as session:
        names = (
            await session.scalars(
                select(Organization.timezone)
                .distinct()
                .order_by(Organization.timezone)
                .limit(ZONES_READ)
            )
        ).all()
    chosen: dict[int, str] = {0: "UTC"}
    now = utcnow()
    for name in names:
        try:
            offset = now.astimezone(zone(name)).utcoffset()
        except ValidationFailed:  # a zone this machine does not know: not warmed
            continue
        if offset is not None:
            chosen.setdefault(int(offset.total_seconds() // 60) % 60, name)
    return list(chosen.values())


def _state(app: FastAPI) -> SimpleNamespace:
    """The application's state as the reads see it, with a cache of its own: nothing
    the warm-up computes is kept (nor sent to Redis)."""
    return SimpleNamespace(
        db=app.state.db,
        settings=app.state.settings,
        cache=MemoryCache(name="warmup", count=False),
    )


async def _warm_pages(state: SimpleNamespace, timezone: str, *, first: bool) -> list[str]:
    """Every page built and rendered once in ``timezone``; the pages that failed."""
    principal = Principal(
        kind=PrincipalKind.USER_SESSION,
        org_id=NOBODY,
        credential_id="sess_warmup",
        scopes=scopes_for(ROLE),
        rate_limit=RateLimitRule(policy="session", limit=0, window_s=60),
        user_id="usr_warmup",
        role=ROLE,
    )
    viewer = Viewer(
        token="",
        org_id=NOBODY,
        org_name="",
        timezone=timezone,
        currency="USD",
        name="",
        role=ROLE,
        csrf="",
        principal=principal,
    )
    warmed: list[str] = []
    failed: list[str] = []
    for slug, spec in PAGES.items():
        reads = _Reads(_request(state, slug), principal, timezone)
        try:
            if first and not warmed:
                await _organization(reads)
            filters = Filters.parse({}, default_tz=viewer.timezone)
            shown = await figures.build(reads, spec, filters, utcnow())
            accounts = await routes.account_choices(reads)
            environment.get_template("page.html").render(
                **routes.page_context(viewer, spec, filters, shown, accounts)
            )
        except Exception as exc:  # a page that fails here is only slower to first show
            log.warning("dashboard warm-up failed", page=slug, error=repr(exc))
            failed.append(slug)
            continue
        if shown.error is not None:  # a read refused: the page's later reads did not run
            log.warning("dashboard warm-up read refused", page=slug, error=shown.error)
            failed.append(slug)
            continue
        warmed.append(slug)
    return failed


async def _organization(reads: Reads) -> None:
    """What every view reads first (``/v1/me``), and the organization's row as the
    routes that need its time zone read it (realtime, live tables); both refuse here:
    no such organization."""
    with contextlib.suppress(ApiRefused):
        await reads.get("/v1/me")
    async with read_session(reads.request) as session:
        with contextlib.suppress(NotFound):
            await identity_service.get_organization(session, org_id=NOBODY)


class _Reads(Reads):
    """A page's reads for :data:`NOBODY`, ``/v1/analytics/realtime`` in the zone warmed
    (its route first looks the organization's time zone up, and there is no
    organization)."""

    def __init__(self, request: Request, principal: Principal, timezone: str) -> None:
        super().__init__(request, principal)
        self.timezone = timezone

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        if path != "/v1/analytics/realtime":
            return await super().get(path, params)
        params = params or {}
        async with read_session(self.request) as session:
            reader = analytics_routes._reader(
                self.principal, session, self.state.cache, self.state.settings
            )
            answer = await dashboards.realtime_in(
                reader,
                zone(self.timezone),
                account_id=params.get("account_id"),
                only=dashboards.section_names(params.get("sections")),
            )
        return answer.model_dump(mode="json", by_alias=True)


def _request(state: SimpleNamespace, slug: str) -> Request:
    """A GET of the page as its route sees it, for :class:`Reads` (no client, no body)."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": f"/dashboard/{slug}",
        "query_string": b"",
        "headers": [],
        "app": SimpleNamespace(state=state),
        "state": {},
    }
    return Request(scope)
