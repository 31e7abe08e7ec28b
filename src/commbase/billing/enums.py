"""Billing's statuses, kinds and categories."""

from __future__ import annotations

from enum import StrEnum


class OwnerType(StrEnum):
    """Who a wallet belongs to."""

    ORGANIZATION = "organization"
    USER = "user"
    AGENT_SESSION = "agent_session"


class WalletStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # pays for nothing until it is active again


class PaymentProvider(StrEnum):
    """How a wallet is topped up: by an administrator, or by card through Stripe."""

    MANUAL = "manual"
    STRIPE = "stripe"
    PAYPAL = "paypal"
    CASHFREE = "cashfree"


class LedgerType(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class LedgerCategory(StrEnum):
    WALLET_TOPUP = "wallet_topup"
    CALL_CHARGE = "call_charge"
    ADMIN_ADJUSTMENT = "admin_adjustment"
    CALL_REFUND = "call_refund"  # money (and package minutes) given back to the wallet
    TOPUP_REFUND = "topup_refund"  # money taken back from the wallet and returned to the payer
    INVOICE_PAYMENT = "invoice_payment"  # a customer paid an invoice (the seller's revenue wallet)
    INCLUDED_MINUTES = "included_minutes"  # a plan's minutes for the period, credited
    INVOICE_REFUND = "invoice_refund"  # an invoice payment given back (the revenue wallet)


class LedgerStatus(StrEnum):
    """A provider payment is ``pending`` until the provider settles it; only
    ``completed`` rows have moved the balance."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


class PaymentMethod(StrEnum):
    ADMIN = "admin"
    STRIPE = "stripe"
    AUTO_RECHARGE = "auto_recharge"  # the manual provider's automatic top-up
    PAYPAL = "paypal"
    CASHFREE = "cashfree"
    SIMULATOR = "simulator"  # billing.providers' offline provider
