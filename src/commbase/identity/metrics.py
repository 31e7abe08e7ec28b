"""People metrics: members joining, sign-ins, active users."""

from __future__ import annotations

from commbase.analytics.registry import Entry, Source, count, distinct, register, register_section
from commbase.identity.enums import MembershipStatus
from commbase.identity.members.models import Membership
from commbase.identity.sessions.models import LoginSession

MEMBERS = Source(
    "memberships",
    Membership.__table__,
    org=Membership.org_id,
    time=Membership.created_at,
    changed=Membership.updated_at,
    dimensions={"role": Membership.role},
    # An invitation counts once accepted (in the hour it was made).
    where=Membership.status == MembershipStatus.ACTIVE,
)

# A sign-in creates a login session; the row is deleted when it expires, so
# rollups keep sign-ins that raw rows no longer show.
LOGINS = Source(
    "login_sessions",
    LoginSession.__table__,
    org=LoginSession.org_id,
    time=LoginSession.created_at,
    changed=LoginSession.created_at,
    dimensions={
        "device": LoginSession.device_type,
        "browser": LoginSession.browser,
        "os": LoginSession.os,
        "country": LoginSession.country,
    },
)

register(
    count("users.new", MEMBERS, "Members added"),
    count("users.logins", LOGINS, "Sign-ins"),
    distinct("users.active", LOGINS, LoginSession.user_id, "Distinct users signing in"),
)
register_section(
    "users",
    {
        "new": "users.new",
        "total": Entry("users.new", cumulative=True),
        "logins": "users.logins",
        "active": "users.active",
    },
)
