"""Password reset shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import EmailStr

from commbase.core.schemas import AppSchema
from commbase.identity.schemas import Password
from commbase.identity.signup.schemas import LinkToken


class PasswordResetRequest(AppSchema):
    email: EmailStr


class PasswordResetConfirm(AppSchema):
    token: LinkToken
    password: Password


class PasswordResetDone(AppSchema):
    status: Literal["password_changed"] = "password_changed"
    sessions_revoked: int
