"""API keys: create (secret shown once), list, update, rotate with a grace period, revoke.

Who may change a key: a caller may rotate, update or revoke only a key it could
have created (``check_may_manage``): the key's scopes within the caller's own, the
key's creator the caller itself or a member the caller may manage (an admin does
not touch an owner's keys), and a test-mode caller only test keys. Agent sessions
manage no keys. Refusals are 403 and recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.cache import Cache
from commbase.core.errors import Conflict, NotFound, PermissionDenied, invalid
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit, events, tokens
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.api_keys.schemas import ApiKeyCreate, ApiKeyUpdate
from commbase.identity.authentication import forget_after_commit
from commbase.identity.enums import ApiKeyEnvironment, ApiKeyStatus, AuditTarget, MembershipStatus
from commbase.identity.members.models import Membership
from commbase.identity.roles import may_manage

CHANGE_REFUSED = "api_key.change_refused"


class KeyChangeRefused(audit.Audited, PermissionDenied):
    """A key the caller could not have created: refused, and recorded in the audit log."""

    def __init__(
        self, detail: str, *, operation: str, reason: str, key: ApiKey | None, **extra: Any
    ) -> None:
        super().__init__(detail, **extra)
        self.note = audit.Note(
            action=CHANGE_REFUSED,
            target_type=AuditTarget.API_KEY if key is not None else None,
            target_id=key.id if key is not None else None,
            details={"operation": operation, "reason": reason, **extra},
        )


def _check_tier(tier: str, tiers: dict[str, dict[str, int]]) -> None:
    if tier not in tiers:
        raise invalid(
            f"Unknown rate-limit tier {tier!r}",
            "rate_limit_tier",
            message=f"one of {', '.join(sorted(tiers))}",
        )


async def _member_role(session: AsyncSession, *, org_id: str, user_id: str) -> str | None:
    role = await session.scalar(
        select(Membership.role).where(
            Membership.org_id == org_id,
            Membership.user_id == user_id,
            Membership.status == MembershipStatus.ACTIVE,
        )
    )
    return None if role is None else str(role)


async def _secret_receiver(session: AsyncSession, actor: Principal) -> str:
    """The member who will hold a secret this caller receives: the user signed in, or
    whoever holds the calling key's secret."""
    assert actor.user_id is not None
    if actor.kind == PrincipalKind.API_KEY:
        row = (
            await session.execute(
                select(ApiKey.created_by, ApiKey.issued_to).where(ApiKey.id == actor.credential_id)
            )
        ).first()
        if row is not None:
            return str(row.issued_to or row.created_by)
    return actor.user_id


def _issued_to(receiver: str, created_by: str) -> str | None:
    return receiver if receiver != created_by else None


def _check_caller_kind(actor: Principal, *, operation: str, key: ApiKey | None) -> str:
    if actor.user_id is None or actor.kind == PrincipalKind.AGENT_SESSION:
        raise KeyChangeRefused(
            "Agent sessions cannot create or change API keys",
            operation=operation,
            reason="agent_session",
            key=key,
        )
    return actor.user_id


async def check_may_manage(
    session: AsyncSession, *, key: ApiKey, actor: Principal, operation: str
) -> None:
    """Raise ``KeyChangeRefused`` unless ``actor`` could have created ``key``."""
    user_id = _check_caller_kind(actor, operation=operation, key=key)
    if not actor.livemode and key.environment != ApiKeyEnvironment.TEST:
        raise KeyChangeRefused(
            "A test-mode credential manages only test keys",
            operation=operation,
            reason="test_mode",
            key=key,
        )
    excess = sorted(set(key.scopes) - {s.value for s in actor.scopes})
    if excess:
        raise KeyChangeRefused(
            "This key holds scopes you lack",
            operation=operation,
            reason="scopes",
            key=key,
            scopes=excess,
        )
    if key.created_by != user_id:
        creator_role = await _member_role(session, org_id=key.org_id, user_id=key.created_by)
        if not may_manage(actor.role, creator_role):
            raise KeyChangeRefused(
                f"A {actor.role or 'credential'} cannot manage the keys of a {creator_role}",
                operation=operation,
                reason="creator_role",
                key=key,
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
    user_id = _check_caller_kind(actor, operation="create", key=None)
    if not actor.livemode and data.environment != ApiKeyEnvironment.TEST:
        raise KeyChangeRefused(
            "A test-mode credential creates only test keys",
            operation="create",
            reason="test_mode",
            key=None,
        )
    requested = set(data.scopes) if data.scopes is not None else set(actor.scopes)
    excess = sorted(s.value for s in requested - actor.scopes)
    if excess:
        raise KeyChangeRefused(
            "An API key cannot hold scopes its creator lacks",
            operation="create",
            reason="scopes",
            key=None,
            scopes=excess,
        )
    _check_tier(data.rate_limit_tier, tiers)
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise invalid(
            "expires_at must be in the future", "expires_at", message="must be in the future"
        )
    new = tokens.generate(f"cb_{data.environment}_")
    key = ApiKey(
        org_id=actor.org_id,
        created_by=user_id,
        issued_to=_issued_to(await _secret_receiver(session, actor), user_id),
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
        target_type=AuditTarget.API_KEY,
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
    if (
        key.status == ApiKeyStatus.ACTIVE
        and key.expires_at is not None
        and key.expires_at <= utcnow()
    ):
        key.status = ApiKeyStatus.EXPIRED
    return key


async def list_keys(
    session: AsyncSession, *, org_id: str, params: PageParams, status: ApiKeyStatus | None = None
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
    await check_may_manage(session, key=key, actor=actor, operation="update")
    data = changes.model_dump(exclude_unset=True)
    if "rate_limit_tier" in data:
        _check_tier(data["rate_limit_tier"], tiers)
    for field, value in data.items():
        setattr(key, field, value)
    forget_after_commit(session, cache, key.key_hash, key.previous_key_hash)
    await audit.record(
        session,
        org_id=key.org_id,
        action="api_key.updated",
        actor=actor,
        target_type=AuditTarget.API_KEY,
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
    """Issue a new secret; the current one keeps working for ``grace_period_s``.

    The caller receives the new secret: when that is not the key's creator, the key
    records who holds it (``issued_to``) and from then on acts with the lower of
    the two members' roles.
    """
    await check_may_manage(session, key=key, actor=actor, operation="rotate")
    if key.status != ApiKeyStatus.ACTIVE:
        raise Conflict(f"A {key.status} key cannot be rotated")
    now = utcnow()
    new = tokens.generate(f"cb_{key.environment}_")
    forget_after_commit(session, cache, key.key_hash, key.previous_key_hash)
    key.previous_key_hash = key.key_hash if grace_period_s > 0 else None
    key.previous_expires_at = now + timedelta(seconds=grace_period_s) if grace_period_s else None
    key.key_hash = tokens.hash_token(new.token, secret=secret)
    key.prefix = new.prefix
    key.last_rotated_at = now
    key.issued_to = _issued_to(await _secret_receiver(session, actor), key.created_by)
    await session.flush()
    await audit.record(
        session,
        org_id=key.org_id,
        action=events.API_KEY_ROTATED,
        actor=actor,
        target_type=AuditTarget.API_KEY,
        target_id=key.id,
        client=client,
        details={"grace_period_s": grace_period_s},
    )
    await outbox.record(session, events.API_KEY_ROTATED, {"id": key.id}, org_id=key.org_id)
    return key, new.token


async def revoke_key(
    session: AsyncSession, *, key: ApiKey, actor: Principal, client: ClientInfo, cache: Cache
) -> ApiKey:
    await check_may_manage(session, key=key, actor=actor, operation="revoke")
    if key.status == ApiKeyStatus.REVOKED:
        return key
    key.status = ApiKeyStatus.REVOKED
    key.revoked_at = utcnow()
    forget_after_commit(session, cache, key.key_hash, key.previous_key_hash)
    await audit.record(
        session,
        org_id=key.org_id,
        action=events.API_KEY_REVOKED,
        actor=actor,
        target_type=AuditTarget.API_KEY,
        target_id=key.id,
        client=client,
    )
    await outbox.record(session, events.API_KEY_REVOKED, {"id": key.id}, org_id=key.org_id)
    await session.flush()
    return key
