"""Event types the webhooks domain emits itself."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class EndpointDisabled(EventPayload):
    id: str
    url: str
    reason: str


class Ping(EventPayload):
    endpoint_id: str
    message: str


ENDPOINT_DISABLED = define(
    "webhook.endpoint.disabled",
    EndpointDisabled,
    "An endpoint was disabled: it answered 410, or too many deliveries in a row failed.",
)
# Sent only by POST /v1/webhooks/{id}/test; never recorded in the outbox.
WEBHOOK_TEST = define("webhook.test", Ping, "A test ping sent on request.")
