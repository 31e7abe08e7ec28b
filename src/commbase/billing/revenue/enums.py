"""MRR movement kinds."""

from __future__ import annotations

from enum import StrEnum


class MovementKind(StrEnum):
    NEW = "new"  # a subscription's first MRR, for a customer who never had any
    EXPANSION = "expansion"  # MRR went up
    CONTRACTION = "contraction"  # MRR went down, not to zero
    CHURN = "churn"  # MRR went to zero (cancelled, paused, expired)
    REACTIVATION = "reactivation"  # back from zero: resumed, or a churned customer again
