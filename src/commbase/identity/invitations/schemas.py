"""Invitation shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, StringConstraints

from commbase.core.schemas import AppSchema
from commbase.identity.roles import Role
from commbase.identity.signup.schemas import LinkToken

PasswordText = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class InvitationCreate(AppSchema):
    email: EmailStr
    role: Role = Role.AGENT
    first_name: Annotated[str, StringConstraints(max_length=100)] = ""
    last_name: Annotated[str, StringConstraints(max_length=100)] = ""


class InvitationAccept(AppSchema):
    """``password``: a new account's password to set (8+ characters), or an existing
    account's own password."""

    token: LinkToken
    password: PasswordText
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    last_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    two_factor_code: Annotated[str, StringConstraints(max_length=32)] | None = None
