"""Tracked facts written straight to the database, for analytics tests that need many."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI

from commbase.tracking.models import Pageview, TrackedEvent, Visitor, VisitorSession

_numbers = itertools.count(1)


@dataclass(frozen=True)
class View:
    """A pageview: when, and its UTM source."""

    at: datetime
    utm_source: str | None = None
    path: str = "/"


async def add_pageviews(app: FastAPI, org_id: str, views: Sequence[View]) -> None:
    """One visitor with one session holding every pageview (received when it happened)."""
    n = next(_numbers)
    first = min(view.at for view in views)
    last = max(view.at for view in views)
    async with app.state.db.sessionmaker() as session:
        visitor = Visitor(
            id=f"vis_factory{n}",
            org_id=org_id,
            first_seen_at=first,
            last_seen_at=last,
            pageviews=len(views),
            sessions=1,
            created_at=first,
            updated_at=last,
        )
        visit = VisitorSession(
            org_id=org_id,
            visitor_id=visitor.id,
            started_at=first,
            last_seen_at=last,
            pageviews=len(views),
            created_at=first,
            updated_at=last,
        )
        session.add(visitor)
        await session.flush()
        session.add(visit)
        await session.flush()
        session.add_all(
            Pageview(
                org_id=org_id,
                visitor_id=visitor.id,
                session_id=visit.id,
                url=f"https://shop.example{view.path}",
                path=view.path,
                utm_source=view.utm_source,
                occurred_at=view.at,
                received_at=view.at,
            )
            for view in views
        )
        await session.commit()


async def add_events(
    app: FastAPI, org_id: str, *, at: datetime, events: Sequence[dict[str, Any]]
) -> None:
    """Tracked events at ``at`` (each dict: type, and any of data, call_id, account_id)."""
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            TrackedEvent(
                org_id=org_id,
                event_id=f"factory-{next(_numbers)}",
                type=event["type"],
                call_id=event.get("call_id"),
                account_id=event.get("account_id"),
                user_id=event.get("user_id"),
                data=event.get("data", {}),
                metadata_={},
                occurred_at=at,
                received_at=at,
                expires_at=at + timedelta(days=90),
            )
            for event in events
        )
        await session.commit()
