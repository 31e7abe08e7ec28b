"""The event the account mailer consumes."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class AccountEmailRequested(EventPayload):
    kind: str  # AccountEmail
    user_id: str
    token_id: str | None = None


ACCOUNT_EMAIL_REQUESTED = define(
    "account.email_requested",
    AccountEmailRequested,
    "An account email (verification, password reset, invitation) is due. Recorded "
    "outside any organization: never delivered to webhooks.",
)
