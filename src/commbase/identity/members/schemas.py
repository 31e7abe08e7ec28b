"""Membership shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.identity.roles import Role
from commbase.identity.schemas import UserRead


class MemberRead(ReadSchema):
    id: str
    user: UserRead
    role: str
    created_at: datetime

    @classmethod
    def of(cls, member: Any, user: Any) -> MemberRead:
        return cls(
            id=member.id,
            user=UserRead.model_validate(user),
            role=member.role,
            created_at=member.created_at,
        )


class MemberUpdate(AppSchema):
    role: Role
