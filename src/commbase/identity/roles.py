"""Membership roles and the scopes each one carries.

owner   everything, including managing owners
admin   everything except granting, changing or removing the owner role
agent   works calls, contacts, conversations and engagement; reads the rest
        it needs; opens agent sessions; cannot manage keys, members or webhooks
viewer  read-only, without API keys or the audit log

"Managing" a member (changing their role, removing them, editing their profile,
rotating or revoking the API keys they created, opening agent sessions on their
behalf) follows ``may_manage``: owners manage everyone, admins everyone but owners.
"""

from __future__ import annotations

from enum import StrEnum

from commbase.core.scopes import ALL_SCOPES, READ_SCOPES, Scope


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OWNER: ALL_SCOPES,
    Role.ADMIN: ALL_SCOPES,
    Role.AGENT: frozenset(
        {
            Scope.ORG_READ,
            Scope.MEMBERS_READ,
            Scope.USERS_READ,
            Scope.CALLS_CREATE,
            Scope.CALLS_READ,
            Scope.CALLS_WRITE,
            Scope.TRANSCRIPTS_READ,
            Scope.CONTACTS_READ,
            Scope.CONTACTS_WRITE,
            Scope.WALLET_READ,
            Scope.MESSAGES_READ,
            Scope.MESSAGES_WRITE,
            Scope.ENGAGEMENT_READ,
            Scope.ENGAGEMENT_WRITE,
            Scope.ANALYTICS_READ,
            Scope.TRACK_WRITE,
            Scope.AGENT_SESSIONS_READ,
            Scope.AGENT_SESSIONS_WRITE,
        }
    ),
    Role.VIEWER: READ_SCOPES - {Scope.API_KEYS_READ, Scope.AUDIT_READ},
}

# What an agent session token may ever do, before intersecting with its creator's.
AGENT_SESSION_SCOPES: frozenset[Scope] = frozenset(
    {
        Scope.CALLS_CREATE,
        Scope.CALLS_READ,
        Scope.CALLS_WRITE,
        Scope.TRANSCRIPTS_READ,
        Scope.CONTACTS_READ,
        Scope.CONTACTS_WRITE,
        Scope.WALLET_READ,
        Scope.MESSAGES_READ,
        Scope.MESSAGES_WRITE,
        Scope.TRACK_WRITE,
        # Seed 003's agents register their own webhooks; endpoints an agent session
        # creates belong to it and hear only its events.
        Scope.WEBHOOKS_MANAGE,
    }
)

# Higher manages lower; a credential whose secret is held by someone other than its
# creator acts with the lower of the two roles.
ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}


def scopes_for(role: str | None) -> frozenset[Scope]:
    try:
        return ROLE_SCOPES[Role(role)] if role else frozenset()
    except ValueError:
        return frozenset()


def may_assign(actor_role: str | None, *, current: str | None, new: str | None) -> bool:
    """Whether ``actor_role`` may move a member from ``current`` to ``new`` (None: remove)."""
    if actor_role == Role.OWNER:
        return True
    if actor_role == Role.ADMIN:
        return Role.OWNER not in (current, new)
    return False


def may_manage(actor_role: str | None, target_role: str | None) -> bool:
    """Whether ``actor_role`` may act over a member holding ``target_role`` (None: no
    longer a member): owners over everyone, admins over everyone but owners."""
    return may_assign(actor_role, current=target_role, new=target_role)


def lower_role(first: str | None, second: str | None) -> str | None:
    """The lesser of two roles; None when either is None (not an active member)."""
    if first is None or second is None:
        return None
    try:
        a, b = Role(first), Role(second)
    except ValueError:
        return None
    return a if ROLE_RANK[a] <= ROLE_RANK[b] else b
