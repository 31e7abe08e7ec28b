"""Who places a call: the credential, the user it acts for, and what that user's
stored settings allow (``users.limits``, ``users.ai_settings``, ``users.preferences``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import AgentGrant, Principal, PrincipalKind
from commbase.identity import service as identity_service
from commbase.identity.models import User


@dataclass(frozen=True, slots=True)
class CallerLimits:
    """What the placing user's stored settings allow (``users.limits`` and
    ``users.ai_settings``); None where nothing is set."""

    max_call_duration_s: int | None = None
    ai_max_call_duration_s: int | None = None
    max_concurrent_calls: int | None = None
    daily_spend_limit: int | None = None
    privacy_mode: bool = False
    default_caller_id: str | None = None

    @classmethod
    def of(cls, user: User | None) -> CallerLimits:
        if user is None:
            return cls()

        def number(source: dict[str, Any], key: str) -> int | None:
            value = source.get(key)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

        caller_id = user.preferences.get("default_caller_id")
        return cls(
            max_call_duration_s=number(user.limits, "max_call_duration"),
            ai_max_call_duration_s=number(user.ai_settings, "max_call_duration"),
            max_concurrent_calls=number(user.limits, "max_concurrent_calls"),
            daily_spend_limit=number(user.limits, "daily_spend_limit"),
            privacy_mode=user.preferences.get("privacy_mode") is True,
            default_caller_id=caller_id if isinstance(caller_id, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who places a call: the credential, the user it acts for, and their limits."""

    principal: Principal
    user_id: str | None
    agent: AgentGrant | None
    agent_session_id: str | None
    api_key_id: str | None
    limits: CallerLimits
    timezone: str


async def caller_for(session: AsyncSession, *, principal: Principal) -> Caller:
    """The caller a principal places calls as, with its user's limits and org's timezone."""
    org = await identity_service.get_organization(session, org_id=principal.org_id)
    user = (
        await identity_service.get_member_user(
            session, org_id=principal.org_id, user_id=principal.user_id
        )
        if principal.user_id
        else None
    )
    is_agent = principal.kind == PrincipalKind.AGENT_SESSION
    is_key = principal.kind == PrincipalKind.API_KEY
    return Caller(
        principal=principal,
        user_id=principal.user_id,
        agent=principal.agent if is_agent else None,
        agent_session_id=principal.credential_id if is_agent else None,
        api_key_id=principal.credential_id if is_key else None,
        limits=CallerLimits.of(user),
        timezone=org.timezone,
    )
