"""Two-factor shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from commbase.core.schemas import AppSchema

Code = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TwoFactorCredentials(AppSchema):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TwoFactorCode(TwoFactorCredentials):
    code: Code


class TwoFactorSetup(AppSchema):
    secret: str
    otpauth_url: str


class RecoveryCodes(AppSchema):
    """Shown once: each code signs in once in place of a TOTP code."""

    recovery_codes: list[str]


class TwoFactorPolicyRead(AppSchema):
    required: bool


class TwoFactorPolicyUpdate(AppSchema):
    required: bool
