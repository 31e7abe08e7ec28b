"""Metrics over tracked facts: telemetry events, pageviews, visits, visitors.

The ``tracking`` snapshot section also shows ``labExperiments`` (``lab.experiments``,
declared in ``engagement/lab/metrics.py``)."""

from __future__ import annotations

from typing import Any

from commbase.analytics.registry import (
    Source,
    average,
    count,
    distinct,
    ratio,
    register,
    register_section,
    total,
)
from commbase.analytics.sql import seconds_between
from commbase.tracking.models import Pageview, TrackedEvent, Visitor, VisitorSession

TRACKED_EVENTS = Source(
    "tracked_events",
    TrackedEvent.__table__,
    org=TrackedEvent.org_id,
    time=TrackedEvent.occurred_at,
    changed=TrackedEvent.received_at,
    account=TrackedEvent.account_id,
    dimensions={"type": TrackedEvent.type},
)
# What every custom metric can be split by, besides its own data fields.
EVENT_DIMENSIONS = {"type": TrackedEvent.type}
# An event's type, its data document, and the references a custom metric may count,
# filter or split by.
EVENT_TYPE = TrackedEvent.type
EVENT_DATA = TrackedEvent.data
EVENT_REFERENCES: dict[str, Any] = {
    "user_id": TrackedEvent.user_id,
    "session_id": TrackedEvent.session_id,
    "call_id": TrackedEvent.call_id,
    "visitor_id": TrackedEvent.visitor_id,
    "account_id": TrackedEvent.account_id,
    "type": TrackedEvent.type,
}


def event_data(path: tuple[str, ...]) -> Any:
    """The JSON node at ``path`` inside an event's ``data`` (``.as_string()``, ``.as_float()``)."""
    return TrackedEvent.data[path if len(path) > 1 else path[0]]


PAGEVIEWS = Source(
    "pageviews",
    Pageview.__table__,
    org=Pageview.org_id,
    time=Pageview.occurred_at,
    changed=Pageview.received_at,
    dimensions={
        "path": Pageview.path,
        "referrer": Pageview.referrer_host,
        "utm_source": Pageview.utm_source,
        "utm_medium": Pageview.utm_medium,
        "utm_campaign": Pageview.utm_campaign,
        "device": Pageview.device_type,
        "browser": Pageview.browser,
        "os": Pageview.os,
        "country": Pageview.country,
        "city": Pageview.city,
    },
)

VISITS = Source(
    "visitor_sessions",
    VisitorSession.__table__,
    org=VisitorSession.org_id,
    time=VisitorSession.started_at,
    changed=VisitorSession.updated_at,
    dimensions={
        "referrer": VisitorSession.referrer_host,
        "utm_source": VisitorSession.utm_source,
        "device": VisitorSession.device_type,
        "country": VisitorSession.country,
    },
)

VISIT_SECONDS = seconds_between(VisitorSession.started_at, VisitorSession.last_seen_at)

VISITORS = Source(
    "visitors",
    Visitor.__table__,
    org=Visitor.org_id,
    time=Visitor.first_seen_at,
    changed=Visitor.updated_at,
    dimensions={"country": Visitor.country, "device": Visitor.device_type},
)

register(
    count("events.total", TRACKED_EVENTS, "Tracked events"),
    count(
        "events.quality_degraded",
        TRACKED_EVENTS,
        "call.quality_degraded events reported by SDKs",
        where=TrackedEvent.type == "call.quality_degraded",
    ),
    count(
        "events.rate_limit_hits",
        TRACKED_EVENTS,
        "rate_limit.hit events",
        where=TrackedEvent.type == "rate_limit.hit",
    ),
    distinct("events.users", TRACKED_EVENTS, TrackedEvent.user_id, "Distinct users with events"),
    count("pageviews.total", PAGEVIEWS, "Pageviews"),
    distinct("pageviews.visitors", PAGEVIEWS, Pageview.visitor_id, "Unique visitors"),
    count("visits.total", VISITS, "Visits (sessions)"),
    count(
        "visits.bounced", VISITS, "Visits with one pageview", where=VisitorSession.pageviews == 1
    ),
    ratio("visits.bounce_rate", "visits.bounced", "visits.total", "Bounced / visits"),
    total("visits.pageviews", VISITS, VisitorSession.pageviews, "Pageviews in visits"),
    average("visits.pageviews_avg", VISITS, VisitorSession.pageviews, "Pageviews per visit"),
    # Visit duration: from the visit's first to its last activity -- pageviews and the
    # browser's visitor updates (POST /v1/track/visitor, which keep a visit open like
    # Plausible's engagement events). Tracked events (POST /v1/track/events) do not
    # extend it. One pageview with nothing after it counts 0 s.
    total(
        "visits.duration",
        VISITS,
        VISIT_SECONDS,
        "Time from a visit's first to its last pageview or visitor update, added up",
        unit="s",
    ),
    average(
        "visits.duration_avg",
        VISITS,
        VISIT_SECONDS,
        "Average visit duration: first to last pageview or visitor update of each visit",
        unit="s",
    ),
    count("visitors.new", VISITORS, "Visitors seen for the first time"),
)
register_section(
    "tracking",
    {
        "events": "events.total",
        "qualityDegraded": "events.quality_degraded",
        "rateLimitHits": "events.rate_limit_hits",
        "pageviews": "pageviews.total",
        "visitors": "pageviews.visitors",
        "visits": "visits.total",
        "bounceRate": "visits.bounce_rate",
        "avgVisitDuration": "visits.duration_avg",
        "labExperiments": "lab.experiments",
    },
)
