"""API keys: create (secret shown once), list, update, rotate with a grace period, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.cache import Cache
from commbase.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit, events, tokens
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.api_keys.schemas import ApiKeyCreate, ApiKeyUpdate
from commbase.identity.authentication import forget


def _check_tier(tier: str, tiers: dict[str, dict[str, int]]) -> None:
    if tier not in tiers:
        raise ValidationFailed(
            f"Unknown rate-limit tier {tier!r}",
            errors=[
                {
                    "loc": ["body", "rate_limit_tier"],
                    "field": "rate_limit_tier",
                    "message": f"one of {', '.join(sorted(tiers))}",
                }
            ],
        )


async def create_key(
    session: AsyncSession,
    *,
    data: ApiKeyCreate,
    actor: Principal,
    client: ClientInfo,
    secret: str,
    tiers: dict[str, dict[str, int]],
) -> tuple[ApiKey, str]:
    """Create a key holding at most the creator's scopes; returns it and its secret."""
    if actor.user_id is None or actor.kind == PrincipalKind.AGENT_SESSION:
        raise PermissionDenied("Only a user or a user's API key can create API keys")
    requested = set(data.scopes) if data.scopes is not None else set(actor.scopes)
    excess = sorted(s.value for s in requested - actor.scopes)
    if excess:
        raise PermissionDenied("An API key cannot hold scopes its creator lacks", scopes=excess)
    _check_tier(data.rate_limit_tier, tiers)
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise ValidationFailed(
            "expires_at must be in the future",
            errors=[
                {
                    "loc": ["body", "expires_at"],
                    "field": "expires_at",
                    "message": "must be in the future",
                }
            ],
        )
    new = tokens.generate(f"cb_{data.environment}_")
    key = ApiKey(
        org_id=actor.org_id,
        created_by=actor.user_id,
        name=data.name,
        description=data.description,
        environment=data.environment,
        prefix=new.prefix,
        key_hash=tokens.hash_token(new.token, secret=secret),
        scopes=sorted(s.value for s in requested),
        allowed_ips=data.allowed_ips,
        rate_limit_tier=data.rate_limit_tier,
        max_concurrent_calls=data.max_concurrent_calls,
        expires_at=data.expires_at,
        last_rotated_at=None,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        action=events.API_KEY_CREATED,
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        client=client,
        details={"name": key.name, "scopes": key.scopes, "environment": key.environment},
    )
    await outbox.record(
        session, events.API_KEY_CREATED, {"id": key.id, "name": key.name}, org_id=actor.org_id
    )
    return key, new.token


async def get_key(session: AsyncSession, *, org_id: str, key_id: str) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.id == key_id))
    if key is None:
        raise NotFound("API key not found")
    if key.status == "active" and key.expires_at is not None and key.expires_at <= utcnow():
        key.status = "expired"
    return key


async def list_keys(
    session: AsyncSession, *, org_id: str, params: PageParams, status: str | None = None
) -> tuple[Sequence[ApiKey], str | None]:
    statement = select(ApiKey).where(ApiKey.org_id == org_id)
    if status:
        statement = statement.where(ApiKey.status == status)
    return await paginate(session, statement, id_column=ApiKey.id, params=params)


async def update_key(
    session: AsyncSession,
    *,
    key: ApiKey,
    changes: ApiKeyUpdate,
    actor: Principal,
    client: ClientInfo,
    cache: Cache,
    tiers: dict[str, dict[str, int]],
) -> ApiKey:
    data = changes.model_dump(exclude_unset=True)
    if data.get("rate_limit_tier") is not None:
        _check_tier(data["rate_limit_tier"], tiers)
    for field, value in data.items():
        if value is not None or field == "description":
            setattr(key, field, value)
    await forget(cache, key.key_hash, key.previous_key_hash)
    await audit.record(
        session,
        org_id=key.org_id,
        action="api_key.updated",
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        client=client,
        details={"fields": sorted(data)},
    )
    await session.flush()
    return key


async def rotate_key(
    session: AsyncSession,
    *,
    key: ApiKey,
    grace_period_s: int,
    actor: Principal,
    client: ClientInfo,
    cache: Cache,
    secret: str,
) -> tuple[ApiKey, str]:
    """Issue a new secret; the current one keeps working for ``grace_period_s``."""
    if key.status != "active":
        raise Conflict(f"A {key.status} key cannot be rotated")
    now = utcnow()
    new = tokens.generate(f"cb_{key.environment}_")
    await forget(cache, key.key_hash, key.previous_key_hash)
    key.previous_key_hash = key.key_hash if grace_period_s > 0 else None
    key.previous_expires_at = now + timedelta(seconds=grace_period_s) if grace_period_s else None
    key.key_hash = tokens.hash_token(new.token, secret=secret)
    key.prefix = new.prefix
    key.last_rotated_at = now
    await session.flush()
    await audit.record(
        session,
        org_id=key.org_id,
        action=events.API_KEY_ROTATED,
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        client=client,
        details={"grace_period_s": grace_period_s},
    )
    await outbox.record(session, events.API_KEY_ROTATED, {"id": key.id}, org_id=key.org_id)
    return key, new.token


async def revoke_key(
    session: AsyncSession, *, key: ApiKey, actor: Principal, client: ClientInfo, cache: Cache
) -> ApiKey:
    if key.status == "revoked":
        return key
    key.status = "revoked"
    key.revoked_at = utcnow()
    await forget(cache, key.key_hash, key.previous_key_hash)
    await audit.record(
        session,
        org_id=key.org_id,
        action=events.API_KEY_REVOKED,
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        client=client,
    )
    await outbox.record(session, events.API_KEY_REVOKED, {"id": key.id}, org_id=key.org_id)
    await session.flush()
    return key
