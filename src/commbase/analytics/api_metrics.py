"""Metrics over ``api_request_counts`` (:mod:`commbase.analytics.api_outcomes`): the
organization's ``/v1`` requests and their error rates, split by ``route_group`` and
``status_class``. A request counts in the minute it ended; rows are never updated."""

from __future__ import annotations

from commbase.analytics.models import ApiRequestCount
from commbase.analytics.registry import Source, ratio, register, total

API_REQUESTS = Source(
    "api_request_counts",
    ApiRequestCount.__table__,
    org=ApiRequestCount.org_id,
    time=ApiRequestCount.minute,
    changed=ApiRequestCount.created_at,
    dimensions={
        "route_group": ApiRequestCount.route_group,
        "status_class": ApiRequestCount.status_class,
    },
)
COUNT = ApiRequestCount.requests
CLASS = ApiRequestCount.status_class

register(
    total("api.requests", API_REQUESTS, COUNT, "API requests of signed-in callers"),
    total(
        "api.errors",
        API_REQUESTS,
        COUNT,
        "API requests answered 4xx or 5xx",
        where=CLASS.in_(["4xx", "5xx"]),
    ),
    total(
        "api.client_errors", API_REQUESTS, COUNT, "API requests answered 4xx", where=CLASS == "4xx"
    ),
    total(
        "api.server_errors", API_REQUESTS, COUNT, "API requests answered 5xx", where=CLASS == "5xx"
    ),
    ratio("api.error_rate", "api.errors", "api.requests", "4xx and 5xx / requests"),
    ratio("api.client_error_rate", "api.client_errors", "api.requests", "4xx / requests"),
    ratio("api.server_error_rate", "api.server_errors", "api.requests", "5xx / requests"),
)
