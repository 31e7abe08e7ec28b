"""What kind of money movement a transaction is, in seed 002's words."""

from __future__ import annotations

from enum import StrEnum


class TransactionType(StrEnum):
    PURCHASE = "purchase"  # a wallet top-up, or a payment of a one-off invoice
    SUBSCRIPTION = "subscription"  # a payment of a subscription's invoice
    REFUND = "refund"  # a top-up given back to the payer
