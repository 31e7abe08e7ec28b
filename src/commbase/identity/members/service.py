"""Members of an organization: list, change roles, remove (or cancel an invitation)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.cache import Cache
from commbase.core.errors import NotFound, PermissionDenied
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.identity import audit, events
from commbase.identity import privacy as identity_privacy
from commbase.identity.authentication import forget_user_credentials
from commbase.identity.enums import AuditTarget, MembershipStatus
from commbase.identity.members.models import Membership
from commbase.identity.models import User
from commbase.identity.roles import Role, may_assign


async def list_members(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    role: Role | None = None,
    status: MembershipStatus | None = None,
) -> tuple[list[tuple[Membership, User]], str | None]:
    statement = select(Membership).where(Membership.org_id == org_id)
    if role:
        statement = statement.where(Membership.role == role)
    if status:
        statement = statement.where(Membership.status == status)
    members, cursor = await paginate(session, statement, id_column=Membership.id, params=params)
    users = {
        u.id: u
        for u in await session.scalars(
            select(User).where(User.id.in_([m.user_id for m in members]))
        )
    }
    return [(m, users[m.user_id]) for m in members], cursor


async def get_member(session: AsyncSession, *, org_id: str, member_id: str) -> Membership:
    member = await session.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.id == member_id)
    )
    if member is None:
        raise NotFound("Member not found")
    return member


async def account_of(session: AsyncSession, *, member: Membership) -> User | None:
    """The member's account, or None while they are only invited (the organization
    does not see an account before its owner accepted)."""
    if member.status == MembershipStatus.INVITED:
        return None
    return await session.get(User, member.user_id)


def _audit_target(member: Membership) -> tuple[str, str]:
    # An invitation is named by the membership: the account's id stays unseen.
    if member.status == MembershipStatus.INVITED:
        return AuditTarget.MEMBERSHIP, member.id
    return AuditTarget.USER, member.user_id


async def _owner_count(session: AsyncSession, *, org_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.org_id == org_id,
                Membership.role == Role.OWNER,
                Membership.status == MembershipStatus.ACTIVE,
            )
        )
        or 0
    )


async def change_role(
    session: AsyncSession,
    *,
    member: Membership,
    role: Role,
    actor: Principal,
    client: ClientInfo,
    cache: Cache,
) -> Membership:
    if not may_assign(actor.role, current=member.role, new=role.value):
        raise PermissionDenied(f"A {actor.role or 'credential'} cannot make this role change")
    active = member.status == MembershipStatus.ACTIVE
    demoting_owner = active and member.role == Role.OWNER and role != Role.OWNER
    if demoting_owner and await _owner_count(session, org_id=member.org_id) <= 1:
        raise PermissionDenied("An organization keeps at least one owner")
    previous = member.role
    member.role = role.value
    target_type, target_id = _audit_target(member)
    await audit.record(
        session,
        org_id=member.org_id,
        action=events.MEMBER_ROLE_CHANGED,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        client=client,
        details={"from": previous, "to": role.value},
    )
    if active:
        await forget_user_credentials(
            session, cache=cache, user_id=member.user_id, org_id=member.org_id
        )
        await outbox.record(
            session,
            events.MEMBER_ROLE_CHANGED,
            {"user_id": member.user_id, "from": previous, "to": role.value},
            org_id=member.org_id,
        )
    await session.flush()
    return member


async def remove_member(
    session: AsyncSession,
    *,
    member: Membership,
    actor: Principal,
    client: ClientInfo,
    cache: Cache,
) -> None:
    if not may_assign(actor.role, current=member.role, new=None):
        raise PermissionDenied("Only an owner can remove an owner")
    active = member.status == MembershipStatus.ACTIVE
    only_owner = active and member.role == Role.OWNER
    if only_owner and await _owner_count(session, org_id=member.org_id) <= 1:
        raise PermissionDenied("An organization keeps at least one owner")
    if active:
        await forget_user_credentials(
            session, cache=cache, user_id=member.user_id, org_id=member.org_id
        )
    target_type, target_id = _audit_target(member)
    await audit.record(
        session,
        org_id=member.org_id,
        action="member.removed" if active else "member.invitation_cancelled",
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        client=client,
        details={"role": member.role},
    )
    await session.delete(member)
    await session.flush()
    if not active:
        # An account made for this invitation alone, never used, goes with it.
        await identity_privacy.close_unused_account(session, user_id=member.user_id)
