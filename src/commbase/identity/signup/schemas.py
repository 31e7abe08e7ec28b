"""Sign-up and email verification shapes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from commbase.core.schemas import AppSchema
from commbase.core.types import Name
from commbase.identity.schemas import Password

LinkToken = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SignupRequest(AppSchema):
    email: EmailStr
    password: Password
    organization_name: Name
    first_name: Annotated[str, StringConstraints(max_length=100)] = ""
    last_name: Annotated[str, StringConstraints(max_length=100)] = ""
    source: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Where the person came from: website, referral, demo_call, ..."
    )


class EmailSent(AppSchema):
    """The same answer whether or not the email has an account."""

    status: Literal["email_sent"] = "email_sent"
    detail: str


class VerifyEmailRequest(AppSchema):
    token: LinkToken


class EmailVerified(AppSchema):
    status: Literal["verified"] = "verified"
    email: str
