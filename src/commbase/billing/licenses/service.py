"""Seats: assigned to users of the customer, counted against the subscription's
quantity, and what they entitle to (the plan's features, only with a live license).

Enforcement (``require_feature``): an organization is *under plans* while it is the
customer organization of at least one live subscription (trialing, active or
past_due), from any seller. Its users then need a live license whose plan lists the
feature (``video_calls`` for placing a video call): without one the request is a 403
problem naming the feature; a credential acting for no user (an organization API key)
is refused too, since a seat belongs to a user. Organizations under no plan -- those
that buy nothing, the self-hosted default -- keep every feature.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog.models import Plan
from commbase.billing.customers import service as customers_service
from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.licenses import events
from commbase.billing.licenses.models import License
from commbase.billing.licenses.schemas import EntitlementRead
from commbase.billing.subscriptions.enums import LIVE
from commbase.billing.subscriptions.models import Subscription
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, PermissionDenied, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import service as identity_service


async def live_count(session: AsyncSession, *, subscription_id: str) -> int:
    count = await session.scalar(
        select(func.count()).where(
            License.subscription_id == subscription_id, License.unassigned_at.is_(None)
        )
    )
    return int(count or 0)


async def assign(
    session: AsyncSession, *, subscription: Subscription, user_id: str, actor_id: str | None
) -> License:
    """Give ``user_id`` (a member of the customer organization, or the member customer
    itself) one of the subscription's seats; 409 when every seat is taken."""
    if subscription.status not in LIVE:
        raise Conflict(f"A {subscription.status} subscription has no seats to assign")
    customer = await customers_service.get_customer(
        session, org_id=subscription.org_id, customer_id=subscription.customer_id
    )
    if customer.kind == CustomerKind.CONTACT:
        raise Conflict("A contact's subscription has no users to license")
    holder = (
        customer.reference_id if customer.kind == CustomerKind.ORGANIZATION else customer.org_id
    )
    if customer.kind == CustomerKind.USER and user_id != customer.reference_id:
        raise invalid("A member's subscription licenses that member only", "user_id")
    try:
        await identity_service.get_member_user(session, org_id=holder, user_id=user_id)
    except NotFound as exc:
        raise invalid("No such member of the customer organization", "user_id") from exc
    if await live_count(session, subscription_id=subscription.id) >= subscription.quantity:
        raise Conflict(
            f"All {subscription.quantity} seats are assigned", seats=subscription.quantity
        )
    license_ = License(
        org_id=subscription.org_id,
        subscription_id=subscription.id,
        customer_id=customer.id,
        holder_org_id=holder,
        user_id=user_id,
        assigned_by=actor_id,
        assigned_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(license_)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("This user already holds a seat of this subscription") from exc
    await outbox.record(
        session, events.LICENSE_ASSIGNED, events.payload(license_), org_id=license_.org_id
    )
    return license_


async def get_license(session: AsyncSession, *, org_id: str, license_id: str) -> License:
    found = await session.scalar(
        select(License).where(License.org_id == org_id, License.id == license_id)
    )
    if found is None:
        raise NotFound("License not found")
    return found


async def unassign(session: AsyncSession, *, license_: License) -> License:
    if license_.unassigned_at is not None:
        raise Conflict("This license was already unassigned")
    license_.unassigned_at = utcnow()
    await session.flush()
    await outbox.record(
        session, events.LICENSE_UNASSIGNED, events.payload(license_), org_id=license_.org_id
    )
    return license_


async def list_licenses(
    session: AsyncSession,
    *,
    org_id: str,
    subscription_id: str,
    params: PageParams,
    live: bool | None = None,
) -> tuple[Sequence[License], str | None]:
    """The subscription's assignments, newest first: its history."""
    statement = select(License).where(
        License.org_id == org_id, License.subscription_id == subscription_id
    )
    if live is not None:
        column = License.unassigned_at
        statement = statement.where(column.is_(None) if live else column.is_not(None))
    return await paginate(session, statement, id_column=License.id, params=params)


async def entitlement(
    session: AsyncSession, *, holder_org_id: str, user_id: str, feature: str
) -> EntitlementRead:
    """The live license through which ``user_id`` of ``holder_org_id`` gets ``feature``
    (a feature of the subscribed plan); 403 without one."""
    rows = (
        await session.execute(
            select(License, Plan.id, Plan.features)
            .join(Subscription, Subscription.id == License.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(
                License.holder_org_id == holder_org_id,
                License.user_id == user_id,
                License.unassigned_at.is_(None),
                Subscription.status.in_(list(LIVE)),
            )
            .order_by(License.id)
        )
    ).all()
    for license_, plan_id, features in rows:
        if feature in features:
            return EntitlementRead(
                feature=feature,
                user_id=user_id,
                license_id=license_.id,
                subscription_id=license_.subscription_id,
                plan_id=plan_id,
            )
    raise PermissionDenied(
        f"No license of this user includes {feature!r}", feature=feature, user_id=user_id
    )


async def under_plans(session: AsyncSession, *, org_id: str) -> bool:
    """Whether ``org_id`` is the customer organization of a live subscription."""
    found = await session.scalar(
        select(Subscription.id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            Customer.kind == CustomerKind.ORGANIZATION,
            Customer.reference_id == org_id,
            Subscription.status.in_(list(LIVE)),
        )
        .limit(1)
    )
    return found is not None


async def require_feature(
    session: AsyncSession, *, org_id: str, user_id: str | None, feature: str
) -> None:
    """Refuse (403) what ``feature`` gates for a user of an organization under plans
    who holds no live license including it (see the module's rule)."""
    if not await under_plans(session, org_id=org_id):
        return
    if user_id is None:
        raise PermissionDenied(
            f"{feature!r} needs a licensed user: this organization's plans gate it and "
            "this credential acts for no user",
            feature=feature,
        )
    await entitlement(session, holder_org_id=org_id, user_id=user_id, feature=feature)
