"""Subscription events."""

from __future__ import annotations

from datetime import datetime

from commbase.core.events import EventPayload, define


class SubscriptionPayload(EventPayload):
    id: str
    customer_id: str
    plan_id: str
    quantity: int
    status: str
    currency: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    cancellation_reason: str | None
    mrr: int


SUBSCRIPTION_CREATED = define(
    "subscription.created", SubscriptionPayload, "A subscription was created."
)
SUBSCRIPTION_UPDATED = define(
    "subscription.updated",
    SubscriptionPayload,
    "A subscription's plan, quantity, add-ons, coupon or status changed.",
)
SUBSCRIPTION_RENEWED = define(
    "subscription.renewed", SubscriptionPayload, "A subscription started a new period."
)
SUBSCRIPTION_PAUSED = define("subscription.paused", SubscriptionPayload, "A subscription paused.")
SUBSCRIPTION_CANCELLED = define(
    "subscription.cancelled", SubscriptionPayload, "A subscription ended (cancelled or expired)."
)


def payload(subscription: object) -> dict[str, object]:
    return SubscriptionPayload.model_validate(subscription, from_attributes=True).model_dump(
        mode="json"
    )
