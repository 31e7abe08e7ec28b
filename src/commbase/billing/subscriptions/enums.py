"""Subscription statuses."""

from __future__ import annotations

from enum import StrEnum


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"  # an invoice is unpaid after its due date; still billed
    PAUSED = "paused"  # not billed, no MRR, until resumed
    CANCELLED = "cancelled"  # ended by a cancellation (now, or at a period's end)
    EXPIRED = "expired"  # a trial that ended set to cancel: it never started


LIVE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
ENDED = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)
BILLED = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
