"""Every scope the API uses, in one enum. Routes declare which one they need."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    API_KEYS_READ = "api_keys:read"
    API_KEYS_WRITE = "api_keys:write"
    AGENT_SESSIONS_READ = "agent_sessions:read"
    AGENT_SESSIONS_WRITE = "agent_sessions:write"
    AUDIT_READ = "audit:read"
    CALLS_CREATE = "calls:create"
    CALLS_READ = "calls:read"
    CALLS_WRITE = "calls:write"
    TRANSCRIPTS_READ = "transcripts:read"
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    WALLET_READ = "wallet:read"
    WALLET_WRITE = "wallet:write"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    MESSAGES_READ = "messages:read"
    MESSAGES_WRITE = "messages:write"
    ENGAGEMENT_READ = "engagement:read"
    ENGAGEMENT_WRITE = "engagement:write"
    WEBHOOKS_MANAGE = "webhooks:manage"
    ANALYTICS_READ = "analytics:read"
    ANALYTICS_WRITE = "analytics:write"
    TRACK_WRITE = "track:write"
    PRIVACY_MANAGE = "privacy:manage"
    JOBS_RUN = "jobs:run"


class IntakeScope(StrEnum):
    """What a publishable key (``cb_pub_``) may do: create records from a website form
    and follow them with the visitor's access token. Nothing else."""

    SUPPORT = "intake:support"
    CONSULTATIONS = "intake:consultations"
    CAREERS = "intake:careers"
    WEBINARS = "intake:webinars"
    SUGGESTIONS = "intake:suggestions"
    LEADS = "intake:leads"
    BOOKINGS = "intake:bookings"


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)
READ_SCOPES: frozenset[Scope] = frozenset(s for s in Scope if s.value.endswith(":read"))
