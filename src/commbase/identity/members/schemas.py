"""Membership shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.identity.enums import MembershipStatus
from commbase.identity.roles import Role
from commbase.identity.schemas import UserRead


class InvitationRead(ReadSchema):
    """The invited person as the admin described them (not their account)."""

    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str | None = None


class MemberRead(ReadSchema):
    id: str
    status: MembershipStatus = Field(
        description="invited until the person accepts by signing in to the organization"
    )
    role: Role
    user: UserRead | None = Field(
        description="The member's account; null while invited (see invitation)"
    )
    invitation: InvitationRead | None = Field(
        description="While invited: only what the admin submitted, whether or not the "
        "email already had an account"
    )
    created_at: datetime

    @classmethod
    def of(cls, member: Any, user: Any | None) -> MemberRead:
        """The member as the organization may see it: the account once they accepted,
        the invitation before."""
        invited = member.status == MembershipStatus.INVITED
        return cls(
            id=member.id,
            status=member.status,
            role=member.role,
            user=UserRead.model_validate(user) if user is not None and not invited else None,
            invitation=InvitationRead.model_validate(member.invitation) if invited else None,
            created_at=member.created_at,
        )


class MemberUpdate(AppSchema):
    role: Role
