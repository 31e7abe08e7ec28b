"""What an emailed account token is for."""

from __future__ import annotations

from enum import StrEnum


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)
    INVITATION = "invitation"


class AccountEmail(StrEnum):
    """The account emails there are templates for."""

    VERIFY_EMAIL = "verify_email"
    ACCOUNT_EXISTS = "account_exists"  # someone signed up with an email that has an account
    PASSWORD_RESET = "password_reset"  # noqa: S105
    INVITATION = "invitation"
