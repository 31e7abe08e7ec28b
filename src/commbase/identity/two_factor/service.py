"""Two-factor sign-in with TOTP (pyotp) and single-use recovery codes.

Setting up and turning off a second factor is authenticated by the account's
password (and, to turn off, a current code), so a member whose organization
requires two factors can enrol before their first sign-in. Codes are accepted
once: a TOTP code's time step must be newer than the last accepted one, a
recovery code is removed when used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import pyotp
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal
from commbase.core.errors import Conflict, InvalidCredentials, PermissionDenied
from commbase.core.http import ClientInfo
from commbase.core.time import utcnow
from commbase.identity import audit, service
from commbase.identity.enums import ActorType, AuditTarget, MembershipStatus, UserStatus
from commbase.identity.members.models import Membership
from commbase.identity.models import User
from commbase.identity.passwords import verify_password
from commbase.identity.roles import Role
from commbase.identity.tokens import hash_token
from commbase.identity.two_factor.models import TwoFactor, TwoFactorPolicy

ISSUER = "commbase"
RECOVERY_CODES = 10
STEP_S = 30


class TwoFactorRequired(InvalidCredentials):
    """The password was right; the account also needs a code."""

    def __init__(self) -> None:
        super().__init__(
            "Enter the code from your authenticator app (two_factor_code)",
            two_factor_required=True,
        )


class EnrollmentRequired(PermissionDenied):
    """The organization requires a second factor the account has not set up."""

    def __init__(self) -> None:
        super().__init__(
            "This organization requires two-factor sign-in: set it up first "
            "(POST /v1/auth/two-factor/setup, then /activate)",
            two_factor_enrollment_required=True,
        )


def _fernet(secret: str) -> Fernet:
    key = hmac.new(secret.encode(), b"commbase-two-factor", hashlib.sha256)
    return Fernet(base64.urlsafe_b64encode(key.digest()))


def _normal(code: str) -> str:
    return code.replace(" ", "").replace("-", "").strip().lower()


def _recovery_hash(code: str, *, secret: str) -> str:
    return hash_token(f"recovery:{_normal(code)}", secret=secret)


async def _password_checked(session: AsyncSession, *, email: str, password: str) -> User:
    user = await service.find_user_by_email(session, email=email)
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or user.status != UserStatus.ACTIVE:
        raise InvalidCredentials("Email or password is wrong")
    return user


async def _active_org_ids(session: AsyncSession, *, user_id: str) -> list[str]:
    rows = await session.scalars(
        select(Membership.org_id).where(
            Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE
        )
    )
    return list(rows)


async def _audit(session: AsyncSession, *, user: User, action: str, client: ClientInfo) -> None:
    for org_id in await _active_org_ids(session, user_id=user.id):
        await audit.record(
            session,
            org_id=org_id,
            action=action,
            actor_type=ActorType.USER,
            actor_id=user.id,
            target_type=AuditTarget.USER,
            target_id=user.id,
            client=client,
        )


def _accept_totp(factor: TwoFactor, code: str, *, secret: str) -> bool:
    """Whether ``code`` is a current TOTP code not used before (±1 step of drift)."""
    digits = _normal(code)
    if len(digits) != 6 or not digits.isdigit():
        return False
    totp = pyotp.TOTP(_fernet(secret).decrypt(factor.secret_sealed.encode()).decode())
    now = int(time.time())
    for drift in (-1, 0, 1):
        step = now // STEP_S + drift
        if step > factor.last_step and hmac.compare_digest(totp.at(step * STEP_S), digits):
            factor.last_step = step
            return True
    return False


def _accept_recovery(factor: TwoFactor, code: str, *, secret: str) -> bool:
    digest = _recovery_hash(code, secret=secret)
    remaining = [h for h in factor.recovery_code_hashes if not hmac.compare_digest(h, digest)]
    if len(remaining) == len(factor.recovery_code_hashes):
        return False
    factor.recovery_code_hashes = remaining
    return True


async def _enabled_factor(session: AsyncSession, *, user_id: str) -> TwoFactor | None:
    factor = await session.scalar(
        select(TwoFactor).where(TwoFactor.user_id == user_id).with_for_update()
    )
    return factor if factor is not None and factor.enabled_at is not None else None


async def setup(
    session: AsyncSession, *, email: str, password: str, secret: str
) -> tuple[str, str]:
    """A new TOTP secret for the account (replacing an unfinished one); returns the
    secret and its ``otpauth://`` URL for authenticator apps."""
    user = await _password_checked(session, email=email, password=password)
    factor = await session.get(TwoFactor, user.id)
    if factor is not None and factor.enabled_at is not None:
        raise Conflict("Two-factor sign-in is already on; turn it off first")
    totp_secret = pyotp.random_base32()
    sealed = _fernet(secret).encrypt(totp_secret.encode()).decode()
    if factor is None:
        session.add(TwoFactor(user_id=user.id, secret_sealed=sealed, recovery_code_hashes=[]))
    else:
        factor.secret_sealed = sealed
        factor.last_step = 0
    await session.flush()
    url = pyotp.TOTP(totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return totp_secret, url


async def activate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    code: str,
    secret: str,
    client: ClientInfo,
) -> list[str]:
    """Turn two-factor sign-in on with a first code; returns the recovery codes
    (shown once, stored hashed)."""
    user = await _password_checked(session, email=email, password=password)
    factor = await session.get(TwoFactor, user.id)
    if factor is None or factor.enabled_at is not None:
        raise Conflict("Set up two-factor sign-in first (POST /v1/auth/two-factor/setup)")
    if not _accept_totp(factor, code, secret=secret):
        raise InvalidCredentials("The code is wrong", two_factor_required=True)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    factor.recovery_code_hashes = [_recovery_hash(c, secret=secret) for c in codes]
    factor.enabled_at = utcnow()
    await _audit(session, user=user, action="user.two_factor_enabled", client=client)
    await session.flush()
    return codes


async def disable(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    code: str,
    secret: str,
    client: ClientInfo,
) -> None:
    """Turn two-factor sign-in off, with the password and a current (or recovery) code."""
    user = await _password_checked(session, email=email, password=password)
    factor = await _enabled_factor(session, user_id=user.id)
    if factor is None:
        raise Conflict("Two-factor sign-in is off")
    if not (
        _accept_totp(factor, code, secret=secret) or _accept_recovery(factor, code, secret=secret)
    ):
        raise InvalidCredentials("The code is wrong", two_factor_required=True)
    await session.delete(factor)
    await _audit(session, user=user, action="user.two_factor_disabled", client=client)
    await session.flush()


async def check_sign_in(
    session: AsyncSession, *, user_id: str, org_id: str, code: str | None, secret: str
) -> bool | None:
    """Check the second factor of a sign-in whose password was right: None when the
    account has none (and the organization does not require one), True for an
    accepted code, False for a wrong one. Raises ``TwoFactorRequired`` without a
    code, ``EnrollmentRequired`` when the organization requires a factor the
    account lacks."""
    factor = await _enabled_factor(session, user_id=user_id)
    if factor is None:
        if await is_required(session, org_id=org_id):
            raise EnrollmentRequired()
        return None
    if not code:
        raise TwoFactorRequired()
    return _accept_totp(factor, code, secret=secret) or _accept_recovery(
        factor, code, secret=secret
    )


async def is_required(session: AsyncSession, *, org_id: str) -> bool:
    policy = await session.get(TwoFactorPolicy, org_id)
    return bool(policy is not None and policy.required)


async def set_required(
    session: AsyncSession, *, org_id: str, required: bool, actor: Principal, client: ClientInfo
) -> bool:
    """An owner requires (or stops requiring) two-factor sign-in for every member."""
    if actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner decides whether two-factor sign-in is required")
    policy = await session.get(TwoFactorPolicy, org_id)
    if policy is None:
        policy = TwoFactorPolicy(org_id=org_id)
        session.add(policy)
    policy.required = required
    policy.updated_by = actor.actor_id
    await audit.record(
        session,
        org_id=org_id,
        action="organization.two_factor_required"
        if required
        else "organization.two_factor_optional",
        actor=actor,
        target_type=AuditTarget.ORGANIZATION,
        target_id=org_id,
        client=client,
    )
    await session.flush()
    return required
