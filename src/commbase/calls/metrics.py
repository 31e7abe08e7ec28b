"""Call metrics: volume, outcome, duration, rating, response time, quality, cost.

Every call metric counts a call in the hour it was placed (``created_at``);
``updated_at`` moves on every change, so a call that completes, is rated or is
billed later is refolded into that hour.
"""

from __future__ import annotations

from commbase.analytics.registry import (
    Source,
    average,
    count,
    ratio,
    register,
    register_section,
    total,
)
from commbase.calls.enums import UNANSWERED_STATUSES, CallKind, CallStatus
from commbase.calls.models import Call

FAILED = UNANSWERED_STATUSES

CALLS = Source(
    "calls",
    Call.__table__,
    org=Call.org_id,
    time=Call.created_at,
    changed=Call.updated_at,
    dimensions={
        "status": Call.status,
        "kind": Call.kind,
        "direction": Call.direction,
        "country": Call.to_country,
        "line_type": Call.to_line_type,
        "quality": Call.quality,
        "user": Call.user_id,
        "agent_session": Call.agent_session_id,
        "end_reason": Call.end_reason,
    },
    unrolled=frozenset({"user", "agent_session"}),  # many values an hour: read raw
)

register(
    count("calls.total", CALLS, "Calls placed"),
    count("calls.video", CALLS, "Video calls placed", where=Call.kind == CallKind.VIDEO),
    count(
        "calls.completed",
        CALLS,
        "Calls that connected and ended",
        where=Call.status == CallStatus.COMPLETED,
    ),
    count(
        "calls.failed",
        CALLS,
        "Calls that failed, were busy, unanswered or canceled",
        where=Call.status.in_(FAILED),
    ),
    count("calls.answered", CALLS, "Calls answered", where=Call.answered_at.is_not(None)),
    ratio("calls.answer_rate", "calls.answered", "calls.total", "Answered / placed"),
    ratio("calls.success_rate", "calls.completed", "calls.total", "Completed / placed"),
    ratio("calls.failure_rate", "calls.failed", "calls.total", "Failed / placed"),
    total("calls.duration", CALLS, Call.duration_seconds, "Talk time", unit="s"),
    average("calls.duration_avg", CALLS, Call.duration_seconds, "Average talk time", unit="s"),
    total("calls.billable_minutes", CALLS, Call.billable_minutes, "Billed minutes", unit="min"),
    total("calls.cost", CALLS, Call.cost_amount, "Charged for calls", unit="minor"),
    average("calls.rating_avg", CALLS, Call.review_rating, "Average review rating", unit="stars"),
    count("calls.reviewed", CALLS, "Calls with a review", where=Call.review_rating.is_not(None)),
    average(
        "calls.response_time_avg",
        CALLS,
        Call.response_time_seconds,
        "Average response time: first ring to answer, answered calls",
        unit="s",
    ),
    average(
        "calls.waiting_time_avg",
        CALLS,
        Call.waiting_time_seconds,
        "Average waiting time: placed to answered, answered calls",
        unit="s",
    ),
    count(
        "calls.problem_solved",
        CALLS,
        "Calls that solved the problem",
        where=Call.problem_solved.is_(True),
    ),
    count(
        "calls.problem_known",
        CALLS,
        "Calls with problem_solved set",
        where=Call.problem_solved.is_not(None),
    ),
    ratio(
        "calls.resolution_rate", "calls.problem_solved", "calls.problem_known", "Solved / answered"
    ),
    average("calls.mos_avg", CALLS, Call.mos_score, "Average MOS score", unit="mos"),
    average("calls.latency_avg", CALLS, Call.latency_ms, "Average latency", unit="ms"),
    average("calls.jitter_avg", CALLS, Call.jitter_ms, "Average jitter", unit="ms"),
    average("calls.packet_loss_avg", CALLS, Call.packet_loss, "Average packet loss", unit="%"),
    count("calls.reconnected", CALLS, "Calls with a reconnection", where=Call.reconnections > 0),
    count(
        "calls.screenshare",
        CALLS,
        "Calls that used screen share",
        where=Call.screenshare_used.is_(True),
    ),
)
register_section(
    "calls",
    {
        "total": "calls.total",
        "completed": "calls.completed",
        "failed": "calls.failed",
        "video": "calls.video",
        "successRate": "calls.success_rate",
        "failureRate": "calls.failure_rate",
        "totalDuration": "calls.duration",
        "avgDuration": "calls.duration_avg",
        "billableMinutes": "calls.billable_minutes",
        "cost": "calls.cost",
        "avgRating": "calls.rating_avg",
        "avgResponseTime": "calls.response_time_avg",
        "resolutionRate": "calls.resolution_rate",
        "avgMos": "calls.mos_avg",
        "avgLatencyMs": "calls.latency_avg",
        "avgPacketLoss": "calls.packet_loss_avg",
    },
)
