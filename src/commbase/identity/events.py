"""Event types the identity domain records in the outbox."""

from __future__ import annotations

from pydantic import Field

from commbase.core.events import EventPayload, define


class OrganizationUpdated(EventPayload):
    id: str
    fields: list[str]


class MemberRoleChanged(EventPayload):
    user_id: str
    from_: str = Field(alias="from")
    to: str


class ApiKeyEvent(EventPayload):
    id: str
    name: str | None = None


class AgentSessionEvent(EventPayload):
    id: str
    agent_id: str | None = None
    session_type: str | None = None


ORGANIZATION_UPDATED = define(
    "organization.updated", OrganizationUpdated, "Organization profile or settings changed."
)
MEMBER_ROLE_CHANGED = define("member.role_changed", MemberRoleChanged, "A member's role changed.")
API_KEY_CREATED = define("api_key.created", ApiKeyEvent, "An API key was created.")
API_KEY_ROTATED = define("api_key.rotated", ApiKeyEvent, "An API key's secret was rotated.")
API_KEY_REVOKED = define("api_key.revoked", ApiKeyEvent, "An API key was revoked.")
AGENT_SESSION_CREATED = define(
    "agent_session.created", AgentSessionEvent, "An AI agent opened a session."
)
AGENT_SESSION_TERMINATED = define(
    "agent_session.terminated", AgentSessionEvent, "An agent session was terminated."
)
