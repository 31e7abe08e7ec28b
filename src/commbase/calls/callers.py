"""Who places a call: the credential, the user it acts for, and what that user's
stored settings allow (``users.limits``, ``users.ai_settings``, ``users.preferences``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from commbase.billing.enums import OwnerType, WalletStatus
from commbase.billing.models import Rate, Wallet
from commbase.contacts.models import Contact
from commbase.core.auth import AgentGrant, Principal, PrincipalKind
from commbase.core.errors import NotFound
from commbase.identity import service as identity_service
from commbase.identity.accounts.models import Signup
from commbase.identity.enums import MembershipStatus
from commbase.identity.members.models import Membership
from commbase.identity.models import Organization, User


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
        return cls.from_settings(user.limits, user.ai_settings, user.preferences)

    @classmethod
    def from_settings(
        cls, limits: dict[str, Any], ai_settings: dict[str, Any], preferences: dict[str, Any]
    ) -> CallerLimits:
        def number(source: dict[str, Any], key: str) -> int | None:
            value = source.get(key)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

        caller_id = preferences.get("default_caller_id")
        return cls(
            max_call_duration_s=number(limits, "max_call_duration"),
            ai_max_call_duration_s=number(ai_settings, "max_call_duration"),
            max_concurrent_calls=number(limits, "max_concurrent_calls"),
            daily_spend_limit=number(limits, "daily_spend_limit"),
            privacy_mode=preferences.get("privacy_mode") is True,
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


def _caller(principal: Principal, *, limits: CallerLimits, timezone: str) -> Caller:
    is_agent = principal.kind == PrincipalKind.AGENT_SESSION
    is_key = principal.kind == PrincipalKind.API_KEY
    return Caller(
        principal=principal,
        user_id=principal.user_id,
        agent=principal.agent if is_agent else None,
        agent_session_id=principal.credential_id if is_agent else None,
        api_key_id=principal.credential_id if is_key else None,
        limits=limits,
        timezone=timezone,
    )


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
    return _caller(principal, limits=CallerLimits.of(user), timezone=org.timezone)


@dataclass(frozen=True, slots=True)
class Placing:
    """What placing a phone call reads before it holds money, in one statement
    (``placing_for``): the caller, whether the organization still waits for its
    email to be verified, the contact called (if the book has one) and the payer."""

    caller: Caller
    unverified: bool
    contact_id: str | None
    contact_blocked: bool
    wallet: Wallet | None  # the payer: the agent session's, else the user's, else the org's
    rates: list[Rate]  # the outbound rates that may price the call (``billing.rates.price_of``)
    # The credential acts for a user who is no longer an active member (the caller's
    # limits are then unknown): ``require_caller`` answers NotFound, as ``caller_for``.
    user_missing: bool = False

    def require_caller(self) -> Caller:
        """The caller, or NotFound if the user the credential acts for is missing
        (asked after the sign-up's verification: see ``placement.place_call``)."""
        if self.user_missing:
            raise NotFound("User not found")
        return self.caller


_payer = aliased(Wallet)
# The active wallet that pays: the agent session's, else the user's, else the
# organization's (one wallet per owner: ``wallets (org_id, owner_type, owner_id)``).
_PAYER_ID = (
    select(_payer.id)
    .where(
        _payer.org_id == bindparam("org_id"),
        _payer.status == WalletStatus.ACTIVE,
        or_(
            and_(
                _payer.owner_type == OwnerType.AGENT_SESSION,
                _payer.owner_id == bindparam("agent_session_id"),
            ),
            and_(_payer.owner_type == OwnerType.USER, _payer.owner_id == bindparam("user_id")),
            and_(
                _payer.owner_type == OwnerType.ORGANIZATION,
                _payer.owner_id == bindparam("org_id"),
            ),
        ),
    )
    .order_by(
        case(
            (_payer.owner_type == OwnerType.AGENT_SESSION, 0),
            (_payer.owner_type == OwnerType.USER, 1),
            else_=2,
        )
    )
    .limit(1)
    .scalar_subquery()
)
# That wallet, as it is now (not locked: a placement locks it as it holds money on
# it, in the statement that stores the call, ``calls.gate``, or with ``lock_payer``).
_PAYER = select(Wallet).where(Wallet.id == _PAYER_ID).cte("payer")
_paying = aliased(Wallet, _PAYER, name="Wallet")
# Built once (building and keying a statement costs more CPU than running it): the
# organization, its pending sign-up, the member user's settings, the contact with
# the number called (one per phone), the paying wallet and, one row each, the
# outbound rates that may price the call (``billing.rates.rate_for``'s candidates:
# the destination country's and those for any country; none, one row with no rate).
_PLACING = (
    select(
        Organization.timezone,
        exists()
        .where(Signup.org_id == Organization.id, Signup.verified_at.is_(None))
        .label("unverified"),
        User.id.label("user_id"),
        User.limits,
        User.ai_settings,
        User.preferences,
        Contact.id.label("contact_id"),
        Contact.blocked,
        _paying,
        Rate,
    )
    .select_from(Organization)
    .outerjoin(
        Membership,
        and_(
            Membership.org_id == Organization.id,
            Membership.user_id == bindparam("user_id"),
            Membership.status == MembershipStatus.ACTIVE,
        ),
    )
    .outerjoin(User, User.id == Membership.user_id)
    .outerjoin(
        Contact, and_(Contact.org_id == Organization.id, Contact.phone == bindparam("phone"))
    )
    .outerjoin(_paying, true())
    .outerjoin(
        Rate,
        and_(
            Rate.org_id == Organization.id,
            Rate.direction == "outbound",
            or_(Rate.country == bindparam("country"), Rate.country.is_(None)),
        ),
    )
    .where(Organization.id == bindparam("org_id"))
    # The wallet as it is now, whatever this session may have read before.
    .execution_options(populate_existing=True)
)


async def placing_for(
    session: AsyncSession, *, principal: Principal, phone: str | None, country: str | None
) -> Placing:
    """``caller_for``, the sign-up's verification, the contact with ``phone``, the
    paying wallet (not locked: ``lock_payer``) and the outbound rates for
    ``country`` or any country, read in one statement; NotFound if the organization
    is missing, a missing user told by ``Placing.require_caller``."""
    caller = _caller(principal, limits=CallerLimits(), timezone="UTC")
    rows = (
        await session.execute(
            _PLACING,
            {
                "org_id": principal.org_id,
                "user_id": principal.user_id,
                "agent_session_id": caller.agent_session_id,
                "phone": phone,
                "country": country,
            },
        )
    ).all()
    if not rows:
        raise NotFound("Organization not found")
    row = rows[0]  # every row is the same but for its rate
    limits = CallerLimits()
    user_missing = bool(principal.user_id) and row.user_id is None
    if principal.user_id and not user_missing:
        limits = CallerLimits.from_settings(row.limits, row.ai_settings, row.preferences)
    return Placing(
        caller=_caller(principal, limits=limits, timezone=row.timezone),
        unverified=bool(row.unverified),
        contact_id=row.contact_id,
        contact_blocked=bool(row.blocked),
        wallet=row.Wallet,
        rates=[found.Rate for found in rows if found.Rate is not None],
        user_missing=user_missing,
    )


# FOR NO KEY UPDATE, as the hold's UPDATE takes: rows inserted meanwhile that refer to
# the wallet (ledger entries) are not kept waiting.
_LOCK_PAYER = (
    select(Wallet)
    .where(Wallet.id == bindparam("wallet_id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)


async def lock_payer(session: AsyncSession, wallet: Wallet) -> None:
    """Lock the paying ``wallet`` until the transaction ends (on PostgreSQL; SQLite's
    writers take the whole database) and read it afresh: placements on the wallet then
    run one at a time, each counting the calls its predecessors committed. Before any
    statement that counts: a statement's snapshot predates a wait for the lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK_PAYER, {"wallet_id": wallet.id})
