"""Payment providers, refund statuses and dunning actions."""

from __future__ import annotations

from enum import StrEnum


class ProviderName(StrEnum):
    MANUAL = "manual"  # money received by hand, recorded at once
    SIMULATOR = "simulator"  # offline: payment method tokens decide the outcome
    STRIPE = "stripe"
    PAYPAL = "paypal"
    CASHFREE = "cashfree"


class Outcome(StrEnum):
    """What a provider says about a payment (or a refund)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundStatus(StrEnum):
    PENDING = "pending"  # asked of the provider, money held in the revenue wallet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the provider refused: the hold is released


class DunningAction(StrEnum):
    """What happens to a subscription once its last payment retry failed."""

    CANCEL = "cancel"
    PAUSE = "pause"
