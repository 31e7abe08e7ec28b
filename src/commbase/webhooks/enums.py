"""Webhooks' statuses and attempt outcomes."""

from __future__ import annotations

from enum import StrEnum


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # deliveries queue up and wait
    DISABLED = "disabled"  # by commbase: 410 Gone, or too many failures in a row


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or being sent)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retries used up, 410 Gone, or its payload expired


class AttemptOutcome(StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "succeeded"  # a 2xx answer within the deadline
    HTTP_ERROR = "http_error"  # any other status code
    TIMEOUT = "timeout"  # no complete answer within ``webhook_timeout_s``
    CONNECTION_ERROR = "connection_error"  # not reachable: DNS, refused, reset, TLS
    REFUSED = "refused"  # the URL or its addresses are not allowed (SSRF guard)
