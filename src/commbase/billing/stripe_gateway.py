"""Requests to Stripe through its SDK: which key (live or test mode), and what a
refusal means.

Money that belongs to test credentials never reaches live Stripe: a test wallet
(opened with a ``cb_test_`` key) and any request made with test credentials use
``COMMBASE_STRIPE_TEST_API_KEY``, which must be a test-mode key (``sk_test_``,
``rk_test_``); without it such payments are refused (422), never sent with the
live key.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import stripe

from commbase.core.errors import (
    CommbaseError,
    PaymentRequired,
    ServiceUnavailable,
    ValidationFailed,
    invalid,
)
from commbase.settings import Settings

_SANDBOX_PREFIXES = ("sk_test_", "rk_test_")


def api_key(settings: Settings, *, livemode: bool) -> str:
    """The secret key for live or test mode; a 422 naming ``provider`` if this server
    has none (a choice it does not offer, not an outage)."""
    if livemode:
        if settings.stripe_api_key is None:
            raise invalid(
                "Stripe is not configured on this server (COMMBASE_STRIPE_API_KEY); "
                "use provider manual",
                "provider",
            )
        return settings.stripe_api_key.get_secret_value()
    key = settings.stripe_test_api_key
    if key is None or not key.get_secret_value().startswith(_SANDBOX_PREFIXES):
        raise invalid(
            "Test credentials and test wallets pay through Stripe's test mode, which is not "
            "configured on this server: set COMMBASE_STRIPE_TEST_API_KEY to an sk_test_ key",
            "provider",
        )
    return key.get_secret_value()


def idempotency_key(purpose: str, source: str) -> str:
    """The key Stripe gets for a request derived from ``source`` (a ledger row's id,
    or a client's Idempotency-Key): one source, one payment, however often it is sent."""
    return f"commbase-{purpose}-{hashlib.sha256(source.encode()).hexdigest()[:48]}"


@asynccontextmanager
async def client(settings: Settings, *, livemode: bool) -> AsyncIterator[stripe.StripeClient]:
    """A Stripe client for one job, on the SDK's asynchronous HTTPX transport."""
    key = api_key(settings, livemode=livemode)
    http = stripe.HTTPXClient()
    try:
        yield stripe.StripeClient(
            key,
            http_client=http,
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=2,
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def is_final(exc: stripe.StripeError) -> bool:
    """Whether Stripe refused for good (a declined card, a bad request) rather than
    failed in a way that a retry with the same idempotency key may cure."""
    return isinstance(
        exc,
        stripe.CardError
        | stripe.InvalidRequestError
        | stripe.AuthenticationError
        | stripe.PermissionError
        | stripe.IdempotencyError,
    )


def error_code(exc: stripe.StripeError) -> str:
    """The most precise code Stripe gave (``card_declined``'s decline code first)."""
    error: Any = exc.error
    decline = getattr(error, "decline_code", None) if error is not None else None
    return str(decline or exc.code or type(exc).__name__)


def error_message(exc: stripe.StripeError) -> str:
    return str(exc.user_message or getattr(exc, "_message", None) or exc)[:500]


def as_problem(exc: stripe.StripeError) -> CommbaseError:
    """What a caller sees when Stripe refuses a request made on its behalf."""
    if isinstance(exc, stripe.CardError):
        return PaymentRequired(
            f"The card was declined: {error_message(exc)}", provider_code=error_code(exc)
        )
    if isinstance(exc, stripe.InvalidRequestError):
        return ValidationFailed(
            f"Stripe refused the request: {error_message(exc)}", provider_code=error_code(exc)
        )
    return ServiceUnavailable(f"Stripe is unavailable: {error_message(exc)}")
