"""Emailed account tokens: issued with an email to send, consumed once.

A token is 43 random URL-safe characters. The database keeps its HMAC-SHA256
(keyed with the server secret, like every other token) and, until the email is
sent, a Fernet-encrypted copy for the mailer; sending wipes the copy. A token is
refused when unknown, used, expired or issued for another purpose, always with
the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import rowcount
from commbase.core.errors import InvalidRequest
from commbase.core.time import utcnow
from commbase.identity.accounts.enums import AccountEmail, TokenPurpose
from commbase.identity.accounts.models import AccountToken
from commbase.identity.email import events as email_events
from commbase.identity.tokens import hash_token

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 64


class TokenRefused(InvalidRequest):
    """An unknown, used, expired or mismatched link token (one answer for all)."""

    def __init__(self) -> None:
        super().__init__("This link is invalid or has expired", field="token")


def _fernet(secret: str) -> Fernet:
    key = hmac.new(secret.encode(), b"commbase-account-tokens", hashlib.sha256)
    return Fernet(base64.urlsafe_b64encode(key.digest()))


def unseal(sealed: str, *, secret: str) -> str | None:
    try:
        return _fernet(secret).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


@dataclass(frozen=True)
class Issued:
    row: AccountToken
    token: str  # shown to nobody: it travels only in the email


async def issue(
    session: AsyncSession,
    *,
    purpose: TokenPurpose,
    user_id: str,
    ttl_s: int,
    secret: str,
    org_id: str | None = None,
    membership_id: str | None = None,
) -> Issued:
    """A new token; earlier unused tokens of the user for the same purpose (and
    organization) stop working, so only the latest link does."""
    now = utcnow()
    earlier = update(AccountToken).where(
        AccountToken.user_id == user_id,
        AccountToken.purpose == purpose,
        AccountToken.used_at.is_(None),
    )
    if org_id is not None:
        earlier = earlier.where(AccountToken.org_id == org_id)
    await session.execute(
        earlier.values(used_at=now, sealed=None).execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = AccountToken(
        purpose=purpose,
        user_id=user_id,
        org_id=org_id,
        membership_id=membership_id,
        token_hash=hash_token(token, secret=secret),
        sealed=_fernet(secret).encrypt(token.encode()).decode(),
        expires_at=now + timedelta(seconds=ttl_s),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return Issued(row=row, token=token)


async def request_email(
    session: AsyncSession, *, kind: AccountEmail, user_id: str, token_id: str | None
) -> None:
    """Queue an account email, sent by the mailer effect after commit. The event
    carries ids only; it is recorded outside any organization, so no webhook hears it."""
    await outbox.record(
        session,
        email_events.ACCOUNT_EMAIL_REQUESTED,
        {"kind": kind.value, "user_id": user_id, "token_id": token_id},
        org_id="",
    )


async def consume(
    session: AsyncSession, *, token: str, purpose: TokenPurpose, secret: str
) -> AccountToken:
    """Mark the token used and return it; ``TokenRefused`` if it cannot be used.
    Two requests racing with one token: exactly one wins (conditional update)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRefused()
    digest = hash_token(token, secret=secret)
    now = utcnow()
    row = await session.scalar(select(AccountToken).where(AccountToken.token_hash == digest))
    if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now:
        raise TokenRefused()
    claimed = await session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=now, sealed=None)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        raise TokenRefused()
    await session.refresh(row)
    return row
