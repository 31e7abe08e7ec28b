"""Privacy API shapes: GDPR requests and retention policies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema

SubjectId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z]+_\w+$")]
KindName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class SubjectRequest(AppSchema):
    subject_type: Literal["user", "contact"]
    subject_id: SubjectId


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
