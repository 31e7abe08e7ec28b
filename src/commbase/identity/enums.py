"""Identity's statuses and kinds: accounts, memberships, API keys, agent sessions, audit actors.

Roles are ``commbase.identity.roles.Role``.
"""

from __future__ import annotations

from enum import StrEnum


class OrganizationStatus(StrEnum):
    ACTIVE = "active"


class AccountType(StrEnum):
    """Seed 003's account types; each names a rate-limit tier (settings.rate_limit_tiers)."""

    FREE = "free"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class UserStatus(StrEnum):
    """An account's state everywhere (accounts are global; memberships are per organization)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"  # erased: anonymised, cannot sign in


class MembershipStatus(StrEnum):
    """A membership added by an admin waits for the person to accept it (by signing in to
    the organization); until then the organization sees only what the admin submitted."""

    ACTIVE = "active"
    INVITED = "invited"


class ApiKeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ApiKeyEnvironment(StrEnum):
    """``test`` keys (``cb_test_``) never reach real carriers or payment providers."""

    LIVE = "live"
    TEST = "test"


class AgentSessionStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class AgentSessionType(StrEnum):
    GUEST = "guest"  # the agent acts for nobody in particular
    AUTHENTICATED = "authenticated"  # the agent acts on behalf of ``user_id``


class DataRetention(StrEnum):
    """How long an agent session's calls and transcripts are kept (its user's consent)."""

    SESSION_ONLY = "session_only"
    THIRTY_DAYS = "30_days"
    PERMANENT = "permanent"


class ActorType(StrEnum):
    """Who an audit entry says acted."""

    USER = "user"
    API_KEY = "api_key"
    AGENT_SESSION = "agent_session"
    SYSTEM = "system"


class AuditTarget(StrEnum):
    """What an identity audit entry is about (other domains name their own targets)."""

    ORGANIZATION = "organization"
    USER = "user"
    MEMBERSHIP = "membership"  # an invitation, before the person accepted
    SESSION = "session"
    API_KEY = "api_key"
    AGENT_SESSION = "agent_session"
