"""Tracking API: event batches, pageviews and visitors (scope track:write).

Lab experiments share the ``/v1/track`` prefix; their routes are in ``engagement/lab``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import TypeAdapter

from commbase.core.auth import Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.scopes import Scope
from commbase.tracking import events, visits
from commbase.tracking.schemas import (
    PageviewCreate,
    PageviewRead,
    TrackEvent,
    TrackResult,
    VisitorCreate,
    VisitorRead,
)

router = APIRouter(prefix="/v1/track", tags=["tracking"])


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """``schema`` with every ``$ref`` to its own ``$defs`` replaced by the definition."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {k: _inline(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def _batch_schema() -> dict[str, Any]:
    schema = TypeAdapter(list[TrackEvent]).json_schema()
    batch: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    batch["maxItems"] = 1000
    return {
        "required": True,
        "content": {
            "application/json": {"schema": batch},
            "application/x-ndjson": {"schema": {"type": "string", "description": "One per line"}},
        },
    }


@router.post(
    "/events",
    response_model=TrackResult,
    openapi_extra={"requestBody": _batch_schema()},
)
async def track_events(
    request: Request, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> TrackResult:
    """Store a batch of up to 1,000 events; invalid ones are listed, the rest are kept.

    An event whose ``id`` this organization already sent counts as a duplicate. An
    event is invalid when a field does not validate, its times are out of bounds, or
    its ``data`` or ``metadata`` nests deeper than 32 levels or holds an integer
    beyond 64 bits. A batch none of whose events can be stored (a single bad event)
    is a 422 problem listing them in ``rejected``.
    """
    principal.require(Scope.TRACK_WRITE)
    return await events.ingest_events(
        session,
        org_id=principal.org_id,
        body=await request.body(),
        content_type=request.headers.get("content-type", ""),
        max_events=settings.track_max_batch,
    )


@router.post("/pageview", response_model=PageviewRead, status_code=status.HTTP_201_CREATED)
async def track_pageview(
    body: PageviewCreate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> PageviewRead:
    """Record a pageview; 30 minutes without one ends the visitor's session."""
    principal.require(Scope.TRACK_WRITE)
    pageview, started = await visits.record_pageview(
        session, org_id=principal.org_id, data=body, client=client
    )
    return PageviewRead(
        pageview_id=pageview.id,
        visitor_id=pageview.visitor_id,
        session_id=pageview.session_id,
        new_session=started,
    )


@router.post("/visitor", response_model=VisitorRead)
async def track_visitor(
    body: VisitorCreate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> VisitorRead:
    """Create or update the calling browser's visitor; returns it with its open session."""
    principal.require(Scope.TRACK_WRITE)
    visitor, current = await visits.touch_visitor(
        session, org_id=principal.org_id, data=body, client=client
    )
    return VisitorRead(
        visitor_id=visitor.id,
        session_id=current.id,
        first_seen_at=visitor.first_seen_at,
        last_seen_at=visitor.last_seen_at,
        pageviews=visitor.pageviews,
        sessions=visitor.sessions,
    )
