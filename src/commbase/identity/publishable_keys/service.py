"""Publishable keys: create (key shown once), list, update, revoke, and resolve one.

A publishable key (``cb_pub_...``) is safe to embed in a web page: it opens only the
``/v1/intake`` routes its intake scopes name (``IntakeScope``), from the web origins on
its list, at most ``rate_limit_per_minute`` requests per visitor IP. Staff with the
``api_keys:write`` scope manage them; any other route refuses one with 401. Like API
keys, only the HMAC-SHA256 of the key is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.errors import InvalidCredentials, NotFound, PermissionDenied
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit, tokens
from commbase.identity.publishable_keys import events
from commbase.identity.publishable_keys.enums import PublishableKeyStatus
from commbase.identity.publishable_keys.models import PublishableKey
from commbase.identity.publishable_keys.schemas import PublishableKeyCreate, PublishableKeyUpdate

PREFIX = "cb_pub_"
TARGET = "publishable_key"


def _check_staff(actor: Principal) -> str:
    if actor.user_id is None or actor.kind == PrincipalKind.AGENT_SESSION:
        raise PermissionDenied("Agent sessions cannot manage publishable keys")
    return actor.user_id


async def create_key(
    session: AsyncSession,
    *,
    data: PublishableKeyCreate,
    actor: Principal,
    client: ClientInfo,
    secret: str,
) -> tuple[PublishableKey, str]:
    """Create a key; returns it and the key itself (shown once)."""
    user_id = _check_staff(actor)
    new = tokens.generate(PREFIX)
    key = PublishableKey(
        org_id=actor.org_id,
        created_by=user_id,
        name=data.name,
        prefix=new.prefix,
        key_hash=tokens.hash_token(new.token, secret=secret),
        scopes=sorted({s.value for s in data.scopes}),
        allowed_origins=sorted(set(data.allowed_origins)),
        rate_limit_per_minute=data.rate_limit_per_minute,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        action=events.PUBLISHABLE_KEY_CREATED,
        actor=actor,
        target_type=TARGET,
        target_id=key.id,
        client=client,
        details={"name": key.name, "scopes": key.scopes, "origins": key.allowed_origins},
    )
    await outbox.record(
        session,
        events.PUBLISHABLE_KEY_CREATED,
        {"id": key.id, "name": key.name},
        org_id=actor.org_id,
    )
    return key, new.token


async def get_key(session: AsyncSession, *, org_id: str, key_id: str) -> PublishableKey:
    key = await session.scalar(
        select(PublishableKey).where(PublishableKey.org_id == org_id, PublishableKey.id == key_id)
    )
    if key is None:
        raise NotFound("Publishable key not found")
    return key


async def list_keys(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: PublishableKeyStatus | None = None,
) -> tuple[Sequence[PublishableKey], str | None]:
    statement = select(PublishableKey).where(PublishableKey.org_id == org_id)
    if status is not None:
        statement = statement.where(PublishableKey.status == status)
    return await paginate(session, statement, id_column=PublishableKey.id, params=params)


async def update_key(
    session: AsyncSession,
    *,
    key: PublishableKey,
    changes: PublishableKeyUpdate,
    actor: Principal,
    client: ClientInfo,
) -> PublishableKey:
    _check_staff(actor)
    data = changes.model_dump(exclude_unset=True)
    if "scopes" in data:
        data["scopes"] = sorted(set(data["scopes"]))
    if "allowed_origins" in data:
        data["allowed_origins"] = sorted(set(data["allowed_origins"]))
    for field, value in data.items():
        setattr(key, field, value)
    await audit.record(
        session,
        org_id=key.org_id,
        action="publishable_key.updated",
        actor=actor,
        target_type=TARGET,
        target_id=key.id,
        client=client,
        details={"fields": sorted(data)},
    )
    await session.flush()
    return key


async def revoke_key(
    session: AsyncSession, *, key: PublishableKey, actor: Principal, client: ClientInfo
) -> PublishableKey:
    """Revoke the key: every later request with it is a 401."""
    _check_staff(actor)
    if key.status == PublishableKeyStatus.REVOKED:
        return key
    key.status = PublishableKeyStatus.REVOKED
    key.revoked_at = utcnow()
    await audit.record(
        session,
        org_id=key.org_id,
        action=events.PUBLISHABLE_KEY_REVOKED,
        actor=actor,
        target_type=TARGET,
        target_id=key.id,
        client=client,
    )
    await outbox.record(session, events.PUBLISHABLE_KEY_REVOKED, {"id": key.id}, org_id=key.org_id)
    await session.flush()
    return key


async def resolve(session: AsyncSession, *, token: str, secret: str) -> PublishableKey:
    """The active key ``token`` is; ``InvalidCredentials`` otherwise.

    Read from the database on every request (one unique-index lookup), so a revoked
    key stops working at once in every process.
    """
    if tokens.classify(token) is not tokens.TokenKind.PUBLISHABLE_KEY:
        raise InvalidCredentials("Send a publishable key: Authorization: Bearer cb_pub_...")
    key = await session.scalar(
        select(PublishableKey).where(
            PublishableKey.key_hash == tokens.hash_token(token, secret=secret)
        )
    )
    if key is None or key.status != PublishableKeyStatus.ACTIVE:
        raise InvalidCredentials("The publishable key is unknown or revoked")
    return key


async def origin_is_allowed(session: AsyncSession, *, origin: str) -> bool:
    """Whether some active publishable key (of any organization) lists ``origin``: what
    a CORS preflight, sent without credentials, can be told."""
    # JSON as text holds each origin in quotes, on SQLite and PostgreSQL alike.
    found = await session.scalar(
        select(PublishableKey.id)
        .where(
            PublishableKey.status == PublishableKeyStatus.ACTIVE,
            cast(PublishableKey.allowed_origins, String).contains(f'"{origin}"', autoescape=True),
        )
        .limit(1)
    )
    return found is not None
