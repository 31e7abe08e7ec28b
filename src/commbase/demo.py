"""Demo data: one organization with an owner, an agent and an API key. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates
from commbase.billing import service as billing_service
from commbase.core.db import Database
from commbase.core.scopes import ALL_SCOPES
from commbase.identity import service, tokens
from commbase.identity.models import ApiKey
from commbase.identity.roles import Role
from commbase.identity.schemas import UserCreate

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
