"""Demo data: one organization with an owner, an agent, an API key and a month of
call and event history. Idempotent."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates
from commbase.billing import service as billing_service
from commbase.calls.models import Call
from commbase.core.db import Database
from commbase.core.ids import new_id
from commbase.core.scopes import ALL_SCOPES
from commbase.core.time import utcnow
from commbase.identity import service, tokens
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.roles import Role
from commbase.identity.schemas import UserCreate
from commbase.tracking.models import TrackedEvent

DEMO_ORG_SLUG = "acme"
DEMO_EMAIL = "owner@acme.example"
DEMO_PASSWORD = "commbase-demo"  # noqa: S105 (published demo credentials)
DEMO_AGENT_EMAIL = "agent@acme.example"


async def _demo_billing(session: AsyncSession, *, org_id: str) -> None:
    """A funded organization wallet and a few rates, so demo calls can be placed."""
    if await billing_service.find_wallet(
        session, org_id=org_id, owner_type="organization", owner_id=org_id
    ):
        return
    wallet = await billing_service.create_wallet(
        session,
        org_id=org_id,
        owner_type="organization",
        owner_id=org_id,
        currency="USD",
        settings={"low_balance_threshold": 500},
    )
    await billing_service.credit(
        session,
        wallet=wallet,
        amount=5000,
        minutes=120,
        posting=billing_service.Posting(
            type="credit",
            category="wallet_topup",
            payment_method="admin",
            plan="popular",
            description="Demo credit",
            idempotency_key=f"demo:{org_id}",
        ),
    )
    for country, line_type, per_minute in (
        ("US", None, "0.0125"),
        ("CZ", "mobile", "0.05"),
        ("CZ", None, "0.03"),
        (None, None, "0.125"),
    ):
        await rates.set_rate(
            session,
            org_id=org_id,
            country=country,
            line_type=line_type,
            per_minute=Decimal(per_minute),
            currency="USD",
        )


@dataclass(frozen=True)
class DemoCredentials:
    org_slug: str
    email: str
    password: str
    api_key: str
    created: bool


async def _demo_history(session: AsyncSession, *, org_id: str, user_id: str) -> None:
    """30 days of past calls and tracked events, so the dashboards have something to show."""
    rng = random.Random(42)  # noqa: S311  (demo data, not secrets)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    countries = ["US", "US", "US", "GB", "DE", "CZ", "IN"]
    for hours_ago in range(24 * 30, 0, -1):
        at = now - timedelta(hours=hours_ago)
        busy = 9 <= (at.hour + 1) % 24 <= 18  # office hours in Prague
        for _ in range(rng.randint(1, 4) if busy else rng.randint(0, 1)):
            moment = at + timedelta(minutes=rng.randint(0, 59))
            status = rng.choices(["completed", "failed", "busy", "no-answer"], [80, 6, 8, 6])[0]
            duration = rng.randint(20, 900) if status == "completed" else None
            minutes = -(-duration // 60) if duration else None
            session.add(
                Call(
                    org_id=org_id,
                    user_id=user_id,
                    provider="simulator",
                    status=status,
                    to_country=rng.choice(countries),
                    duration_seconds=duration,
                    billable_minutes=minutes,
                    cost_amount=round(minutes * 12.5) if minutes else None,
                    currency="USD",
                    review_rating=rng.choice([None, None, 3, 4, 5, 5]) if duration else None,
                    response_time_seconds=rng.randint(2, 40),
                    mos_score=round(rng.uniform(3.2, 4.5), 2) if duration else None,
                    quality=rng.choice(["excellent", "good", "good", "fair"]) if duration else None,
                    initiated_at=moment,
                    ended_at=moment + timedelta(seconds=duration or 30),
                    created_at=moment,
                    updated_at=moment,
                )
            )
            session.add(
                TrackedEvent(
                    org_id=org_id,
                    event_id=new_id("evt"),
                    type=rng.choice(["widget.opened", "order.paid", "call.quality_degraded"]),
                    data={"amount": rng.randint(5, 200)},
                    metadata_={"sdk_version": "1.2.3"},
                    occurred_at=moment,
                    received_at=moment,
                    expires_at=moment + timedelta(days=90),
                )
            )


async def load_demo(database: Database, *, secret: str) -> DemoCredentials:
    """Create the demo organization if it is missing; return its credentials.

    The demo API key is derived from the server secret, so every run prints the
    same working key without storing it anywhere.
    """
    key = tokens.derive("cb_test_", secret=secret, label="commbase-demo-api-key")
    key_hash = tokens.hash_token(key.token, secret=secret)
    async with database.sessionmaker() as session:
        org = await service.find_organization(session, slug_or_id=DEMO_ORG_SLUG)
        created = org is None
        if org is None:
            org = await service.create_organization(
                session,
                name="Acme Support",
                slug=DEMO_ORG_SLUG,
                timezone="Europe/Prague",
                currency="USD",
                industry="customer_support",
            )
            owner, _ = await service.create_user(
                session,
                data=UserCreate(
                    email=DEMO_EMAIL,
                    password=DEMO_PASSWORD,
                    first_name="Olivia",
                    last_name="Owner",
                    role=Role.OWNER,
                ),
                org_id=org.id,
            )
            await service.create_user(
                session,
                data=UserCreate(
                    email=DEMO_AGENT_EMAIL,
                    password=DEMO_PASSWORD,
                    first_name="Adam",
                    last_name="Agent",
                    role=Role.AGENT,
                ),
                org_id=org.id,
            )
            await session.flush()
            owner_id = owner.id
            await _demo_history(session, org_id=org.id, user_id=owner_id)
        else:
            found = await service.find_user_by_email(session, email=DEMO_EMAIL)
            assert found is not None, "demo organization exists without its owner"
            owner_id = found.id
        await _demo_billing(session, org_id=org.id)
        if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)) is None:
            session.add(
                ApiKey(
                    org_id=org.id,
                    created_by=owner_id,
                    name="Demo key",
                    description="Created by `commbase demo`",
                    environment="test",
                    prefix=key.prefix,
                    key_hash=key_hash,
                    scopes=sorted(s.value for s in ALL_SCOPES),
                    rate_limit_tier="premium",
                )
            )
        await session.commit()
    return DemoCredentials(DEMO_ORG_SLUG, DEMO_EMAIL, DEMO_PASSWORD, key.token, created)
