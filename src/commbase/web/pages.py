"""What each dashboard page shows: figure cards, charts, rankings and tables, each
naming the ``/v1`` request it reads (:mod:`commbase.web.figures` sends them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    metrics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ranking:
    """The largest groups of ``metric`` by ``group_by`` over the range."""

    title: str
    metric: str
    group_by: str


@dataclass(frozen=True, slots=True)
class PageSpec:
    slug: str
    title: str
    summary: str
    cards: tuple[str, ...]
    charts: tuple[Chart, ...] = ()
    rankings: tuple[Ranking, ...] = ()
    tables: tuple[str, ...] = field(default=())  # names in figures.TABLES


PAGES: dict[str, PageSpec] = {
    spec.slug: spec
    for spec in (
        PageSpec(
            "executive",
            "Executive",
            "Recurring revenue, revenue, calls, conversations and active users.",
            cards=(
                "revenue.mrr",
                "revenue.arr",
                "revenue.charges",
                "revenue.topups",
                "calls.total",
                "conversations.total",
                "users.active",
            ),
            charts=(
                Chart("Calls and conversations", ("calls.total", "conversations.total")),
                Chart("Revenue", ("revenue.charges", "revenue.topups")),
            ),
        ),
        PageSpec(
            "operational",
            "Operational",
            "Calls in progress, calls and conversations today and over the range, waiting "
            "and response times, agents' activity and resolution.",
            cards=(
                "calls.total",
                "calls.completed",
                "conversations.total",
                "conversations.open",
                "calls.waiting_time_avg",
                "calls.response_time_avg",
                "conversations.response_time_avg",
                "calls.resolution_rate",
                "calls.problem_solved",
                "conversations.resolution_rate",
            ),
            charts=(Chart("Calls", ("calls.total", "calls.completed", "calls.failed")),),
            rankings=(Ranking("Conversations by agent", "conversations.total", "agent"),),
            tables=("in_progress", "call_agents", "today", "agents"),
        ),
        PageSpec(
            "financial",
            "Financial",
            "Top-ups, charges, refunds, invoices, recurring revenue movements and forecast.",
            cards=(
                "revenue.topups",
                "revenue.topup_count",
                "revenue.charges",
                "revenue.call_charges",
                "revenue.refunds",
                "revenue.invoice_payments",
                "invoices.billed",
                "invoices.collected",
                "invoices.outstanding",
                "mrr.new",
                "mrr.expansion",
                "mrr.contraction",
                "mrr.churn",
            ),
            charts=(
                Chart("Top-ups and charges", ("revenue.topups", "revenue.charges")),
                Chart(
                    "MRR movements", ("mrr.new", "mrr.expansion", "mrr.contraction", "mrr.churn")
                ),
            ),
            rankings=(
                Ranking("Charges by category", "revenue.charges", "category"),
                Ranking("Invoices by status", "invoices.issued", "status"),
            ),
            tables=("mrr_forecast", "forecast", "mrr_movements"),
        ),
        PageSpec(
            "technical",
            "Technical",
            "Call quality, failure rates, API error rates, webhook delivery health and job runs.",
            cards=(
                "calls.mos_avg",
                "calls.latency_avg",
                "calls.jitter_avg",
                "calls.packet_loss_avg",
                "calls.failure_rate",
                "messages.failure_rate",
                "events.quality_degraded",
                "events.rate_limit_hits",
                "api.requests",
                "api.error_rate",
                "api.server_error_rate",
            ),
            charts=(
                Chart("API error rates (%)", ("api.client_error_rate", "api.server_error_rate")),
                Chart("MOS", ("calls.mos_avg",)),
                Chart("Latency and jitter (ms)", ("calls.latency_avg", "calls.jitter_avg")),
                Chart("Packet loss (%)", ("calls.packet_loss_avg",)),
            ),
            rankings=(
                Ranking("Failed calls by end reason", "calls.failed", "end_reason"),
                Ranking("API errors by route group", "api.errors", "route_group"),
            ),
            tables=("webhooks", "jobs"),
        ),
        PageSpec(
            "messaging",
            "Messaging",
            "The message funnel, campaigns and each channel account.",
            cards=(
                "messages.sent",
                "messages.delivered",
                "messages.read",
                "messages.replied",
                "messages.failed",
                "messages.delivery_rate",
                "messages.read_rate",
                "messages.reply_rate",
                "campaigns.total",
                "campaigns.messages_sent",
            ),
            charts=(
                Chart(
                    "Message funnel",
                    ("messages.sent", "messages.delivered", "messages.read", "messages.replied"),
                ),
            ),
            rankings=(
                Ranking("Campaign messages by campaign", "campaigns.messages_sent", "campaign"),
            ),
            tables=("accounts", "campaigns"),
        ),
        PageSpec(
            "web",
            "Web analytics",
            "Visitors now, visitors, pageviews, bounce rate, visit duration, top pages, "
            "referrers, UTM sources, countries and devices.",
            cards=(
                "pageviews.visitors",
                "visitors.new",
                "visits.total",
                "pageviews.total",
                "visits.bounce_rate",
                "visits.pageviews_avg",
                "visits.duration_avg",
            ),
            charts=(Chart("Visitors and pageviews", ("pageviews.visitors", "pageviews.total")),),
            rankings=(
                Ranking("Top pages", "pageviews.total", "path"),
                Ranking("Referrers", "visits.total", "referrer"),
                Ranking("UTM sources", "visits.total", "utm_source"),
                Ranking("Countries", "visits.total", "country"),
                Ranking("Devices", "visits.total", "device"),
            ),
            tables=("live_visitors",),
        ),
    )
}

LABELS: dict[str, str] = {
    "revenue.mrr": "MRR",
    "revenue.arr": "ARR",
    "revenue.charges": "Revenue (charges)",
    "revenue.topups": "Top-ups",
    "revenue.topup_count": "Top-up count",
    "revenue.call_charges": "Call charges",
    "revenue.refunds": "Refunds",
    "revenue.invoice_payments": "Invoice payments",
    "invoices.billed": "Invoiced",
    "invoices.collected": "Collected",
    "invoices.outstanding": "Outstanding",
    "invoices.issued": "Invoices issued",
    "mrr.new": "New MRR",
    "mrr.expansion": "Expansion",
    "mrr.contraction": "Contraction",
    "mrr.churn": "Churned MRR",
    "calls.total": "Calls",
    "calls.completed": "Completed calls",
    "calls.failed": "Failed calls",
    "calls.waiting_time_avg": "Avg waiting time",
    "calls.response_time_avg": "Avg call response time",
    "calls.resolution_rate": "Call resolution rate",
    "calls.problem_solved": "Problems solved",
    "calls.mos_avg": "MOS",
    "calls.latency_avg": "Latency",
    "calls.jitter_avg": "Jitter",
    "calls.packet_loss_avg": "Packet loss",
    "calls.failure_rate": "Call failure rate",
    "calls.answered": "Answered calls",
    "api.requests": "API requests",
    "api.errors": "API errors",
    "api.error_rate": "API error rate",
    "api.server_error_rate": "API 5xx rate",
    "api.client_error_rate": "4xx rate",
    "conversations.total": "Conversations",
    "conversations.open": "Open conversations",
    "conversations.response_time_avg": "Avg chat response time",
    "conversations.resolution_rate": "Conversation resolution rate",
    "users.active": "Active users",
    "messages.sent": "Sent",
    "messages.delivered": "Delivered",
    "messages.read": "Read",
    "messages.replied": "Replied",
    "messages.failed": "Failed",
    "messages.delivery_rate": "Delivery rate",
    "messages.read_rate": "Read rate",
    "messages.reply_rate": "Reply rate",
    "messages.failure_rate": "Message failure rate",
    "campaigns.total": "Campaigns",
    "campaigns.messages_sent": "Campaign messages",
    "events.quality_degraded": "Quality alerts",
    "events.rate_limit_hits": "Rate-limit hits",
    "pageviews.visitors": "Unique visitors",
    "pageviews.total": "Pageviews",
    "visitors.new": "New visitors",
    "visits.total": "Visits",
    "visits.bounce_rate": "Bounce rate",
    "visits.pageviews_avg": "Views per visit",
    "visits.duration_avg": "Visit duration",
}


def label(metric: str) -> str:
    return LABELS.get(metric, metric)
