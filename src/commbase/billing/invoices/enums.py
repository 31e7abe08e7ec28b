"""Invoice statuses and line kinds."""

from __future__ import annotations

from enum import StrEnum


class InvoiceStatus(StrEnum):
    DRAFT = "draft"  # editable, no number yet
    OPEN = "open"  # numbered, awaiting payment
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class LineKind(StrEnum):
    PLAN = "plan"
    ADDON = "addon"
    PRORATION = "proration"
    USAGE = "usage"
    ONE_OFF = "one_off"


class BillingReason(StrEnum):
    SUBSCRIPTION_CREATE = "subscription_create"  # the first period
    SUBSCRIPTION_CYCLE = "subscription_cycle"  # a renewal (or a resume)
    SUBSCRIPTION_UPDATE = "subscription_update"  # a proration charged at once
    MANUAL = "manual"


# Reasons that bill one period of a subscription: one invoice per (subscription, period).
PERIOD_REASONS = (BillingReason.SUBSCRIPTION_CREATE, BillingReason.SUBSCRIPTION_CYCLE)


class InvoicePaymentStatus(StrEnum):
    """A provider payment is ``pending`` until its provider reports it; statuses only
    move forward (pending -> succeeded or failed)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
