"""Privacy API shapes: GDPR requests and retention policies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema

SubjectId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z]+_\w+$")]
KindName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


def _email_address(value: str) -> str:
    """The address, lowercased; the error never repeats it (a problem must not echo it)."""
    try:
        found = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None
    return found.normalized.lower()


EmailAddress = Annotated[
    str, StringConstraints(min_length=3, max_length=254), AfterValidator(_email_address)
]


class AccountSubjectRequest(AppSchema):
    """A user or a contact, by id."""

    subject_type: Literal["user", "contact"]
    subject_id: SubjectId


class EmailSubjectRequest(AppSchema):
    """A website visitor known only by the email address they typed (matched case-insensitively)."""

    subject_type: Literal["email"]
    subject_id: EmailAddress


SubjectRequest = Annotated[
    AccountSubjectRequest | EmailSubjectRequest, Field(discriminator="subject_type")
]


class PrivacyRequestRead(ReadSchema):
    id: str
    kind: str
    subject_type: str
    subject_id: str
    status: str
    requested_by: str | None
    counts: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    expires_at: datetime | None = None
    download_url: str | None = Field(
        default=None, description="The zip, while it is kept (exports only)"
    )


class RetentionPolicyRead(AppSchema):
    kind: str
    description: str
    days: int
    default_days: int
    min_days: int
    max_days: int
    overridden: bool


class RetentionRead(AppSchema):
    policies: list[RetentionPolicyRead]


class RetentionUpdate(AppSchema):
    """The organization's overrides, days per kind; a kind left out keeps its default."""

    overrides: dict[KindName, int] = Field(max_length=50)
