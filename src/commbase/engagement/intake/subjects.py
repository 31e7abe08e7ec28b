"""How GDPR requests find what website visitors left by email alone.

A visitor's lead, suggestion, booking or ticket sent through a publishable key names
no contact and no user, only the email address the visitor typed. When that person
is (or becomes) a user of the organization, a request about the user covers those
records too: each domain's privacy module matches the user's email against its
records linked to nobody (every link column empty), case-insensitively.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, func
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.identity import service as identity_service


async def user_email(session: AsyncSession, *, user_id: str) -> str | None:
    """The user's email address, lowercased (None when the user is gone)."""
    user = await identity_service.find_user(session, user_id=user_id)
    if user is None or not user.email:
        return None
    return user.email.lower()


def left_by_email(email_column: Any, email: str | None, *links: Any) -> ColumnElement[bool]:
    """Rows whose every link column in ``links`` is empty and whose email is ``email``."""
    if email is None:
        return false()
    return and_(*(link.is_(None) for link in links), func.lower(email_column) == email)
