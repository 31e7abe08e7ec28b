"""Account types (seed 003): free, standard, premium, enterprise.

An organization's account type is the one its subscription names when the operator's
organization (``settings.account_type_seller``) sells it a live subscription
(``billing.subscriptions.service.account_type_for``: the plan feature
``account_type:<type>``), otherwise the type stored on the
organization: ``free`` for sign-ups, the operator's choice (``commbase users create
--account-type``, ``standard`` by default) for organizations they create.

The type names a rate-limit tier (``settings.rate_limit_tiers``) that is the ceiling
of every credential of the organization: an API key's own tier can lower it, never
raise it; login and agent sessions get the lower of ``session_rate_limit`` and it.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.identity.enums import AccountType
from commbase.identity.models import Organization
from commbase.identity.schemas import OrganizationRead
from commbase.settings import Settings

Source = Literal["subscription", "default"]


async def resolve(
    session: AsyncSession, *, settings: Settings, org: Organization
) -> tuple[AccountType, Source]:
    """The organization's account type and where it comes from. A subscription naming
    a type this deployment does not know is ignored."""
    # Imported here: billing's service imports identity (agent sessions, authentication).
    from commbase.billing.subscriptions import service as subscriptions_service

    seller = await _seller_id(session, settings)
    named = (
        await subscriptions_service.account_type_for(session, org_id=org.id, seller_org_id=seller)
        if seller and seller != org.id
        else None
    )
    if named is not None and named in AccountType.__members__.values():
        return AccountType(named), "subscription"
    return AccountType(org.account_type), "default"


async def _seller_id(session: AsyncSession, settings: Settings) -> str | None:
    """The id of ``settings.account_type_seller`` (an organization's id or slug)."""
    name = settings.account_type_seller
    if not name:
        return None
    return await session.scalar(
        select(Organization.id).where((Organization.id == name) | (Organization.slug == name))
    )


async def account_type_of(session: AsyncSession, *, settings: Settings, org_id: str) -> AccountType:
    org = await session.get(Organization, org_id)
    if org is None:
        return AccountType.STANDARD
    kind, _ = await resolve(session, settings=settings, org=org)
    return kind


async def organization_read(
    session: AsyncSession, *, settings: Settings, org: Organization
) -> OrganizationRead:
    """The API's view of an organization, with its account type as it applies now."""
    kind, source = await resolve(session, settings=settings, org=org)
    view = OrganizationRead.model_validate(org)
    return view.model_copy(update={"account_type": kind, "account_type_source": source})


def tier_limit(tiers: dict[str, dict[str, int]], name: str) -> tuple[int, int]:
    """(limit, window_s) of a tier; an unknown name falls back to standard."""
    tier = tiers.get(name) or tiers["standard"]
    return tier["limit"], tier["window_s"]
