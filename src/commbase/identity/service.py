"""Organizations, users and memberships."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.cache import Cache
from commbase.core.errors import AlreadyExists, NotFound, PermissionDenied
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.identity import audit, events
from commbase.identity.authentication import forget_user_credentials
from commbase.identity.enums import AccountType, AuditTarget, MembershipStatus, UserStatus
from commbase.identity.members.models import Membership
from commbase.identity.models import Organization, User
from commbase.identity.passwords import hash_password
from commbase.identity.roles import may_manage
from commbase.identity.schemas import (
    AISettings,
    OrganizationUpdate,
    Preferences,
    UserAdminUpdate,
    UserCreate,
    UserUpdate,
)

# ---------------------------------------------------------------- organizations


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "org"


async def create_organization(
    session: AsyncSession,
    *,
    name: str,
    slug: str | None = None,
    timezone: str = "UTC",
    currency: str = "USD",
    industry: str | None = None,
    language: str = "en",
    account_type: AccountType = AccountType.STANDARD,
) -> Organization:
    """Create an organization with a unique slug (suffixed when taken). ``account_type``
    is its default, used while no live subscription names one."""
    base = slug or slugify(name)
    candidate, n = base, 1
    while await session.scalar(select(Organization.id).where(Organization.slug == candidate)):
        if slug:
            raise AlreadyExists(f"The slug {slug!r} is taken", field="slug")
        n += 1
        candidate = f"{base}-{n}"
    org = Organization(
        name=name,
        slug=candidate,
        timezone=timezone,
        currency=currency,
        industry=industry,
        language=language,
        account_type=account_type,
        onboarding={"steps": {"profile": False, "api_key": False, "first_call": False}},
    )
    session.add(org)
    await session.flush()
    return org


async def get_organization(session: AsyncSession, *, org_id: str) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("Organization not found")
    return org


async def active_organizations(
    session: AsyncSession, *, org_ids: Sequence[str] | None = None
) -> list[Organization]:
    """Active organizations (only those in ``org_ids`` when given), by id."""
    query = select(Organization).where(Organization.status == "active").order_by(Organization.id)
    if org_ids is not None:
        query = query.where(Organization.id.in_(list(org_ids)))
    return list(await session.scalars(query))


async def find_organization(session: AsyncSession, *, slug_or_id: str) -> Organization | None:
    return await session.scalar(
        select(Organization).where(
            (Organization.slug == slug_or_id) | (Organization.id == slug_or_id)
        )
    )


async def update_organization(
    session: AsyncSession,
    *,
    org: Organization,
    changes: OrganizationUpdate,
    actor: Principal,
    client: ClientInfo,
) -> Organization:
    data = changes.model_dump(mode="json", exclude_unset=True)
    if "onboarding" in data and changes.onboarding is not None:
        data["onboarding"] = {**data["onboarding"], "progress": changes.onboarding.progress}
    for field, value in data.items():
        setattr(org, field, value)
    await audit.record(
        session,
        org_id=org.id,
        action=events.ORGANIZATION_UPDATED,
        actor=actor,
        target_type=AuditTarget.ORGANIZATION,
        target_id=org.id,
        client=client,
        details={"fields": sorted(data)},
    )
    await outbox.record(
        session, events.ORGANIZATION_UPDATED, {"id": org.id, "fields": sorted(data)}, org_id=org.id
    )
    await session.flush()
    return org


# ------------------------------------------------------------------------ users


def normalize_email(email: str) -> str:
    return email.strip().lower()


def display_name(first: str, last: str, email: str) -> str:
    return f"{first} {last}".strip() or email.split("@")[0]


async def find_user(session: AsyncSession, *, user_id: str) -> User | None:
    """A user by id, whatever their memberships (None if there is none)."""
    return await session.get(User, user_id)


async def find_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def _new_account(session: AsyncSession, *, data: UserCreate, email: str) -> User:
    user = User(
        email=email,
        first_name=data.first_name,
        last_name=data.last_name,
        name=display_name(data.first_name, data.last_name, email),
        phone=data.phone,
        password_hash=hash_password(data.password) if data.password else None,
        preferences=(data.preferences or Preferences()).model_dump(mode="json"),
        ai_settings=(data.ai_settings or AISettings()).model_dump(mode="json"),
        source=data.source,
        status=UserStatus.ACTIVE,
    )
    session.add(user)
    await session.flush()
    return user


async def _account_for(session: AsyncSession, *, data: UserCreate, email: str) -> User:
    """The account with ``email``, created from ``data`` when there is none. A
    concurrent request that created it first is read back, not a 500."""
    user = await find_user_by_email(session, email=email)
    if user is not None:
        return user
    try:
        async with session.begin_nested():
            return await _new_account(session, data=data, email=email)
    except IntegrityError:
        user = await find_user_by_email(session, email=email)
        if user is None:
            raise
        return user


async def _add_membership(session: AsyncSession, membership: Membership) -> None:
    try:
        async with session.begin_nested():
            session.add(membership)
            await session.flush()
    except IntegrityError as exc:  # a concurrent request added them first
        raise AlreadyExists("This email is already a member or invited", field="email") from exc


async def create_user(
    session: AsyncSession, *, data: UserCreate, org_id: str | None = None
) -> tuple[User, Membership | None]:
    """Create a user, and an active membership in ``org_id`` with ``data.role`` when given.

    For the operator (CLI, demo) and tests: if the email already belongs to a user,
    that user is added to the organization at once; a user already in it is a
    conflict. The API adds members with ``invite_member``.
    """
    email = normalize_email(data.email)
    user = await _account_for(session, data=data, email=email)
    membership = None
    if org_id is not None:
        if await get_membership(session, org_id=org_id, user_id=user.id) is not None:
            raise AlreadyExists("This user is already a member", field="email")
        membership = Membership(
            org_id=org_id, user_id=user.id, role=data.role.value, status=MembershipStatus.ACTIVE
        )
        await _add_membership(session, membership)
    return user, membership


async def invite_member(
    session: AsyncSession, *, org_id: str, data: UserCreate, actor: Principal, client: ClientInfo
) -> Membership:
    """Add the person with ``data.email`` to the organization, pending their acceptance.

    The answer, and what the organization sees afterwards, do not depend on whether
    the email already has an account (in another organization): either way the
    membership is ``invited`` and shows only what was submitted, until the person
    accepts by signing in to the organization. An email without an account gets
    one, from the submitted profile and password; an existing account is left
    untouched (the submitted password and settings are not applied to it).
    Only an email already a member (or invited) here is a conflict.
    """
    email = normalize_email(data.email)
    user = await find_user_by_email(session, email=email)
    if user is not None and await get_membership(session, org_id=org_id, user_id=user.id):
        raise AlreadyExists("This email is already a member or invited", field="email")
    if user is None:
        user = await _account_for(session, data=data, email=email)
    membership = Membership(
        org_id=org_id,
        user_id=user.id,
        role=data.role.value,
        status=MembershipStatus.INVITED,
        invitation={
            "email": email,
            "first_name": data.first_name,
            "last_name": data.last_name,
            "phone": data.phone,
        },
    )
    await _add_membership(session, membership)
    await audit.record(
        session,
        org_id=org_id,
        action="member.invited",
        actor=actor,
        target_type=AuditTarget.MEMBERSHIP,
        target_id=membership.id,
        client=client,
        details={"role": membership.role},
    )
    return membership


async def get_membership(session: AsyncSession, *, org_id: str, user_id: str) -> Membership | None:
    return await session.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
    )


async def get_member_user(session: AsyncSession, *, org_id: str, user_id: str) -> User:
    """The user ``user_id`` if they are an active member of ``org_id`` (an invitation
    not yet accepted does not count); otherwise NotFound."""
    user = await session.scalar(_MEMBER_USER, {"org_id": org_id, "user_id": user_id})
    if user is None:
        raise NotFound("User not found")
    return user


async def get_organization_and_member(
    session: AsyncSession, *, org_id: str, user_id: str
) -> tuple[Organization, User]:
    """The organization and its active member ``user_id``, in one statement: what
    ``get_organization`` and ``get_member_user`` return (and their NotFound)."""
    row = (await session.execute(_ORG_AND_MEMBER, {"org_id": org_id, "user_id": user_id})).first()
    if row is None:
        raise NotFound("Organization not found")
    org, user = row
    if user is None:
        raise NotFound("User not found")
    return org, user


# Built once: every authenticated ``GET /v1/me`` runs them, and building and keying a
# statement costs more CPU than running it.
_ORG_AND_MEMBER = (
    select(Organization, User)
    .outerjoin(
        Membership,
        (Membership.org_id == Organization.id)
        & (Membership.user_id == bindparam("user_id"))
        & (Membership.status == MembershipStatus.ACTIVE),
    )
    .outerjoin(User, User.id == Membership.user_id)
    .where(Organization.id == bindparam("org_id"))
)
_MEMBER_USER = (
    select(User)
    .join(Membership, Membership.user_id == User.id)
    .where(
        Membership.org_id == bindparam("org_id"),
        Membership.status == MembershipStatus.ACTIVE,
        User.id == bindparam("user_id"),
    )
)


async def list_users(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: UserStatus | None = None,
    search: str | None = None,
) -> tuple[Sequence[User], str | None]:
    """The accounts of the organization's active members (invitations are listed
    with the members)."""
    statement = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.status == MembershipStatus.ACTIVE)
    )
    if status:
        statement = statement.where(User.status == status)
    if search:
        pattern = f"%{search.lower()}%"
        statement = statement.where(func.lower(User.name).like(pattern) | User.email.like(pattern))
    return await paginate(session, statement, id_column=User.id, params=params)


def apply_user_update(user: User, changes: UserUpdate | UserAdminUpdate) -> list[str]:
    """Apply a profile update; returns the fields that changed."""
    data: dict[str, Any] = changes.model_dump(mode="json", exclude_unset=True)
    for field in ("preferences", "ai_settings", "limits"):
        if field in data:
            # Nested settings merge, so a client can change one of them alone.
            data[field] = {**getattr(user, field), **(data[field] or {})}
    for field, value in data.items():
        setattr(user, field, value)
    if {"first_name", "last_name"} & data.keys():
        user.name = display_name(user.first_name, user.last_name, user.email)
    return sorted(data)


async def update_user(
    session: AsyncSession,
    *,
    org_id: str,
    user: User,
    changes: UserUpdate | UserAdminUpdate,
    actor: Principal,
    client: ClientInfo,
    cache: Cache,
) -> User:
    """Change a member's profile, settings, limits or status (``users:write``).

    Someone else's only if the caller may manage them: an admin does not edit an
    owner. The status is never one's own.
    """
    if user.id != actor.user_id:
        target = await get_membership(session, org_id=org_id, user_id=user.id)
        target_role = target.role if target is not None else None
        if not may_manage(actor.role, target_role):
            raise PermissionDenied(
                f"A {actor.role or 'credential'} cannot change a {target_role}'s account"
            )
    fields = apply_user_update(user, changes)
    if "status" in fields:
        if user.id == actor.user_id:
            raise PermissionDenied("You cannot change your own status")
        await forget_user_credentials(session, cache=cache, user_id=user.id)
        await audit.record(
            session,
            org_id=org_id,
            action=f"user.{user.status}",
            actor=actor,
            target_type=AuditTarget.USER,
            target_id=user.id,
            client=client,
        )
    await session.flush()
    return user


# ------------------------------------------------------------- call counters


async def record_call_for_user(
    session: AsyncSession, *, user_id: str, kind: str, duration_s: int
) -> None:
    """Keep the Henvid user counters current: total (video) calls and duration."""
    await session.execute(
        RECORD_CALL,
        {
            "u_user_id": user_id,
            "video": 1 if kind == "video" else 0,
            "duration_s": max(0, duration_s),
        },
    )


_USERS: Table = User.__table__  # type: ignore[assignment]
# Built once, on the table (an ORM-enabled UPDATE costs more CPU than its round trip):
# every finished call runs it. Parameters: ``u_user_id`` (no column's name: a statement
# that also updates ``calls``, ``calls.counting``'s, would SET a column so named),
# ``video`` and ``duration_s``.
RECORD_CALL = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("u_user_id"))
    .values(
        total_calls=_USERS.c.total_calls + 1,
        total_video_calls=_USERS.c.total_video_calls + bindparam("video"),
        total_call_duration=_USERS.c.total_call_duration + bindparam("duration_s"),
    )
)


async def record_review_for_user(session: AsyncSession, *, user_id: str, rating: int) -> None:
    """Count a review of one of the user's calls toward their average rating."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(review_count=User.review_count + 1, rating_sum=User.rating_sum + rating)
        .execution_options(synchronize_session=False)
    )
