"""Members of an organization: list, change roles, remove."""

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
from commbase.identity.authentication import forget_user_credentials
from commbase.identity.members.models import Membership
from commbase.identity.models import User
from commbase.identity.roles import Role, may_assign


async def list_members(
    session: AsyncSession, *, org_id: str, params: PageParams, role: str | None = None
) -> tuple[list[tuple[Membership, User]], str | None]:
    statement = select(Membership).where(Membership.org_id == org_id)
    if role:
        statement = statement.where(Membership.role == role)
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


async def _owner_count(session: AsyncSession, *, org_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.org_id == org_id, Membership.role == Role.OWNER)
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
    demoting_owner = member.role == Role.OWNER and role != Role.OWNER
    if demoting_owner and await _owner_count(session, org_id=member.org_id) <= 1:
        raise PermissionDenied("An organization keeps at least one owner")
    previous = member.role
    member.role = role.value
    await forget_user_credentials(
        session, cache=cache, user_id=member.user_id, org_id=member.org_id
    )
    await audit.record(
        session,
        org_id=member.org_id,
        action=events.MEMBER_ROLE_CHANGED,
        actor=actor,
        target_type="user",
        target_id=member.user_id,
        client=client,
        details={"from": previous, "to": role.value},
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
    if member.role == Role.OWNER and await _owner_count(session, org_id=member.org_id) <= 1:
        raise PermissionDenied("An organization keeps at least one owner")
    await forget_user_credentials(
        session, cache=cache, user_id=member.user_id, org_id=member.org_id
    )
    await audit.record(
        session,
        org_id=member.org_id,
        action="member.removed",
        actor=actor,
        target_type="user",
        target_id=member.user_id,
        client=client,
        details={"role": member.role},
    )
    await session.delete(member)
    await session.flush()
