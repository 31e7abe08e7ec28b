"""Access tokens: a visitor's key to the one record their form created."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import DbSession, rowcount
from commbase.core.errors import AuthenticationRequired, NotFound
from commbase.core.scopes import IntakeScope
from commbase.engagement.intake.models import IntakeAccess
from commbase.engagement.intake.principal import IntakePrincipal, _intake_principal
from commbase.identity import tokens

ACCESS_HEADER = "X-Access-Token"
PREFIX = "cb_acc_"


async def issue_access(
    session: AsyncSession,
    *,
    principal: IntakePrincipal,
    record_type: str,
    record_id: str,
    secret: str,
) -> str:
    """A new access token for one record; only its HMAC is stored."""
    new = tokens.generate(PREFIX)
    session.add(
        IntakeAccess(
            org_id=principal.org_id,
            publishable_key_id=principal.key_id,
            record_type=record_type,
            record_id=record_id,
            token_hash=tokens.hash_token(new.token, secret=secret),
        )
    )
    await session.flush()
    return new.token


async def record_for(
    session: AsyncSession,
    *,
    org_id: str,
    record_type: str,
    token: str | None,
    secret: str,
) -> str:
    """The id of the record ``token`` opens; ``NotFound`` for any other token (wrong,
    another record type's, another organization's, or none at all)."""
    if not token or tokens.classify(token) is not tokens.TokenKind.INTAKE_ACCESS:
        raise NotFound("No record for this access token")
    record_id = await session.scalar(
        select(IntakeAccess.record_id).where(
            IntakeAccess.token_hash == tokens.hash_token(token, secret=secret),
            IntakeAccess.org_id == org_id,
            IntakeAccess.record_type == record_type,
        )
    )
    if record_id is None:
        raise NotFound("No record for this access token")
    return record_id


async def forget_access(
    session: AsyncSession, *, org_id: str, record_type: str, record_ids: list[str]
) -> int:
    """Drop the access tokens of these records (on erasure or deletion)."""
    if not record_ids:
        return 0
    result = await session.execute(
        delete(IntakeAccess).where(
            IntakeAccess.org_id == org_id,
            IntakeAccess.record_type == record_type,
            IntakeAccess.record_id.in_(record_ids),
        )
    )
    return rowcount(result)


@dataclass(frozen=True, slots=True)
class VisitorAccess:
    """A visitor holding the access token of one record."""

    principal: IntakePrincipal
    record_id: str


def visitor_access(record_type: str, scope: IntakeScope) -> Callable[..., Awaitable[VisitorAccess]]:
    """A dependency: the publishable key (origin, IP limit, ``scope``) plus the
    ``X-Access-Token`` header, resolved to the one record of ``record_type`` it opens."""

    async def dependency(
        request: Request,
        session: DbSession,
        principal: Annotated[IntakePrincipal, Depends(_intake_principal)],
        access_token: Annotated[
            str | None,
            Header(
                alias=ACCESS_HEADER,
                max_length=128,
                description="The access token the visitor received when submitting",
            ),
        ] = None,
    ) -> VisitorAccess:
        principal.require(scope)
        if access_token is None:
            raise AuthenticationRequired(f"Send the record's access token in {ACCESS_HEADER}")
        record_id = await record_for(
            session,
            org_id=principal.org_id,
            record_type=record_type,
            token=access_token,
            secret=request.app.state.settings.secret_key.get_secret_value(),
        )
        return VisitorAccess(principal=principal, record_id=record_id)

    return dependency
