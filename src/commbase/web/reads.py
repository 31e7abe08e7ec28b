"""A dashboard page's ``/v1`` reads, answered by the ``/v1`` routes' own functions.

Every figure on a page is the answer of a ``/v1`` GET route: :meth:`Reads.get` calls
that route's function (``analytics.routes.series`` for ``/v1/analytics/series``...)
with the parameters parsed as the route declares them and the dependencies it
declares built the same way (the analytics ``Reader`` with the cache, the checked
``account_id``), and serializes the answer through the route's response model, so a
page and the API can never disagree: one computation.

What the HTTP stack would add is done once per page view instead of once per read
(:func:`commbase.web.viewer.current_viewer`): the session token is resolved by the
API's own authenticator (organization, role, scopes, expiry, IP allow-list) and the
view counts once against the session's rate limit. Each route still checks its own
scope against that principal, so a role sees exactly what the API would show it.
The reads are not ``/v1`` requests: they are not counted as the organization's API
traffic (``api.requests``), nor each against the rate limit.

A route's refusal (a ``CommbaseError``: 403 scope missing, 404 unknown account...)
becomes :class:`~commbase.web.api.ApiRefused` with the status and detail the API
would have answered, which the page shows (:mod:`commbase.web.figures`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import live_routes
from commbase.analytics import routes as analytics
from commbase.analytics.dashboards import Reader
from commbase.analytics.enums import Interval
from commbase.analytics.service import DEFAULT_GROUP_LIMIT
from commbase.billing.revenue import routes as revenue
from commbase.core import readonly
from commbase.core.auth import Principal
from commbase.core.db import Database
from commbase.core.errors import CommbaseError
from commbase.core.pagination import PageParams
from commbase.core.types import UtcDateTime
from commbase.identity import routes as identity
from commbase.messaging.accounts import routes as channel_accounts
from commbase.messaging.campaigns import routes as campaigns
from commbase.messaging.reports import routes as reports
from commbase.messaging.reports.schemas import ReportGroup
from commbase.web.api import ApiRefused
from commbase.webhooks import routes as webhooks

_MOMENT: TypeAdapter[Any] = TypeAdapter(UtcDateTime)


class Reads:
    """The ``/v1`` reads of one page view, as ``principal``."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.request = request
        self.state = request.app.state
        self.principal = principal

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The JSON body ``GET path?params`` answers; ``ApiRefused`` for its refusal."""
        try:
            async with read_session(self.request) as session:
                answer = await ROUTES[path](self, session, params or {})
        except CommbaseError as refusal:
            headers = refusal.headers or {}
            raise ApiRefused(
                refusal.status, refusal.detail, path, retry_after=headers.get("Retry-After")
            ) from refusal
        if isinstance(answer, Response):  # a route that serializes its answer itself
            return json.loads(bytes(answer.body)) if answer.body else None
        return answer.model_dump(mode="json", by_alias=True)


@asynccontextmanager
async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session of its own per read (a page's reads run concurrently), opened as a
    ``/v1`` GET's is (``core.db``): read-only unless this page's route was seen
    writing (``core.readonly``), committed when the read returns."""
    database: Database = request.app.state.db
    options = {"bind": database.read_request_engine} if readonly.reads_only(request.scope) else {}
    async with database.sessionmaker(**options) as session:
        yield session
        await session.commit()


def _moment(params: dict[str, str], name: str) -> Any:
    return _MOMENT.validate_python(params[name]) if params.get(name) else None


def _page(params: dict[str, str]) -> PageParams:
    return PageParams(limit=int(params.get("limit", "20")), after_id=None)


def _flag(params: dict[str, str], name: str, default: bool) -> bool:
    return params.get(name, "true" if default else "false") == "true"


def _reader(reads: Reads, session: AsyncSession) -> Reader:
    return analytics._reader(reads.principal, session, reads.state.cache, reads.state.settings)


async def _account(reads: Reads, session: AsyncSession, params: dict[str, str]) -> str | None:
    return await analytics._account(reads.principal, session, params.get("account_id"))


async def _me(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await identity._me(session, reads.principal, reads.state.settings)


async def _series(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    reader = _reader(reads, session)
    query = analytics._series_query(
        params["metrics"],
        Interval(params.get("interval", Interval.DAY.value)),
        _moment(params, "from"),
        _moment(params, "to"),
        params.get("tz"),
        await _account(reads, session, params),
        params.get("group_by"),
        params.get("filter"),
        int(params.get("group_limit", DEFAULT_GROUP_LIMIT)),
    )
    return await analytics.series(reader, query, compare=_flag(params, "compare", True))


async def _realtime(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    reader = _reader(reads, session)
    account = await _account(reads, session, params)
    return await analytics.realtime(reader, account_id=account, sections=params.get("sections"))


async def _health(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await analytics.analytics_health(reads.principal, session)


async def _in_progress(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await live_routes.calls_in_progress(reads.principal, session)


async def _live_visitors(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await live_routes.live_visitors(reads.principal, session)


async def _messaging(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await reports.messaging_report(
        reads.principal,
        session,
        _moment(params, "from"),
        _moment(params, "to"),
        group_by=ReportGroup(params.get("group_by", ReportGroup.ACCOUNT.value)),
        business_hours=_flag(params, "business_hours", False),
    )


async def _campaigns(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await campaigns.list_campaigns(reads.principal, session, _page(params))


async def _channel_accounts(
    reads: Reads, session: AsyncSession, params: dict[str, str]
) -> BaseModel:
    return await channel_accounts.list_accounts(reads.principal, session, _page(params))


async def _forecast(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await revenue.billing_forecast(
        reads.principal, session, days=int(params.get("days", "30"))
    )


async def _mrr_forecast(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await revenue.mrr_forecast_report(reads.principal, session)


async def _movements(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    return await revenue.list_movements(reads.principal, session, _page(params))


async def _webhooks(reads: Reads, session: AsyncSession, params: dict[str, str]) -> BaseModel:
    answer: BaseModel = await webhooks.list_endpoints(reads.principal, session, _page(params))
    return answer


Route = Callable[[Reads, AsyncSession, dict[str, str]], Awaitable[BaseModel | Response]]
# The /v1 GET routes the pages read, by path; the parameters each page sends only.
ROUTES: dict[str, Route] = {
    "/v1/me": _me,
    "/v1/analytics/series": _series,
    "/v1/analytics/realtime": _realtime,
    "/v1/analytics/health": _health,
    "/v1/analytics/calls-in-progress": _in_progress,
    "/v1/analytics/live-visitors": _live_visitors,
    "/v1/reports/messaging": _messaging,
    "/v1/campaigns": _campaigns,
    "/v1/channel-accounts": _channel_accounts,
    "/v1/billing/forecast": _forecast,
    "/v1/billing/mrr-forecast": _mrr_forecast,
    "/v1/billing/mrr-movements": _movements,
    "/v1/webhooks": _webhooks,
}
