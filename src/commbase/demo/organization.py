"""The demo organization as it is now, made through the domains' services: its owner
and agent, its wallet and rates, its contacts and its API key; ``load_demo`` makes what
is missing and, the first time, the month of history behind it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates
from commbase.billing import service as billing_service
from commbase.billing.models import Wallet
from commbase.calls.phone_numbers import service as phone_numbers
from commbase.contacts import service as contacts_service
from commbase.contacts.models import Contact
from commbase.contacts.schemas import ContactCreate, ContactMetadata
from commbase.core.db import Database
from commbase.core.scopes import ALL_SCOPES
from commbase.demo.catalog import (
    CURRENCY,
    DEMO_AGENT_EMAIL,
    DEMO_CONTACTS,
    DEMO_EMAIL,
    DEMO_ORG_SLUG,
    DEMO_PASSWORD,
    DEMO_RATES,
)
from commbase.demo.history import write_history
from commbase.identity import service, tokens
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.roles import Role
from commbase.identity.schemas import UserCreate

DEMO_NUMBER = "+14155550140"  # the demo organization's simulator phone number


@dataclass(frozen=True)
class DemoCredentials:
    org_slug: str
    email: str
    password: str
    api_key: str
    created: bool


async def _demo_billing(session: AsyncSession, *, org_id: str) -> tuple[Wallet, bool]:
    """The organization's wallet, and whether it was made now (with the demo rates)."""
    wallet = await billing_service.find_wallet(
        session, org_id=org_id, owner_type="organization", owner_id=org_id
    )
    if wallet is not None:
        return wallet, False
    wallet = await billing_service.create_wallet(
        session,
        org_id=org_id,
        owner_type="organization",
        owner_id=org_id,
        currency=CURRENCY,
        settings={"low_balance_threshold": 500},
    )
    for country, line_type, per_minute in DEMO_RATES:
        await rates.set_rate(
            session,
            org_id=org_id,
            country=country,
            line_type=line_type,
            per_minute=Decimal(per_minute),
            currency=CURRENCY,
        )
    return wallet, True


async def _demo_contacts(session: AsyncSession, *, org_id: str, owner_id: str) -> list[Contact]:
    contacts = []
    for name, phone, labels, company, _ in DEMO_CONTACTS:
        data = ContactCreate(
            name=name, phone=phone, labels=labels, metadata=ContactMetadata(company=company)
        )
        contacts.append(
            await contacts_service.create_contact(
                session, org_id=org_id, data=data, owner_user_id=owner_id
            )
        )
    return contacts


async def _create_organization(session: AsyncSession) -> tuple[str, list[str]]:
    """The demo organization with its owner and agent: (org id, [owner id, agent id])."""
    org = await service.create_organization(
        session,
        name="Acme Support",
        slug=DEMO_ORG_SLUG,
        timezone="Europe/Prague",
        currency=CURRENCY,
        industry="customer_support",
    )
    members = []
    for email, first, last, role in (
        (DEMO_EMAIL, "Olivia", "Owner", Role.OWNER),
        (DEMO_AGENT_EMAIL, "Adam", "Agent", Role.AGENT),
    ):
        user, _ = await service.create_user(
            session,
            data=UserCreate(
                email=email, password=DEMO_PASSWORD, first_name=first, last_name=last, role=role
            ),
            org_id=org.id,
        )
        members.append(user.id)
    await session.flush()
    return org.id, members


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
            org_id, user_ids = await _create_organization(session)
        else:
            org_id = org.id
            found = await service.find_user_by_email(session, email=DEMO_EMAIL)
            assert found is not None, "demo organization exists without its owner"
            user_ids = [found.id]
        wallet, new_wallet = await _demo_billing(session, org_id=org_id)
        if created and new_wallet:
            contacts = await _demo_contacts(session, org_id=org_id, owner_id=user_ids[0])
            await write_history(
                session, org_id=org_id, user_ids=user_ids, wallet=wallet, contacts=contacts
            )
            # A number to ring: POST /v1/phone-numbers/{id}/simulate-inbound.
            await phone_numbers.ensure_simulator_number(
                session, org_id=org_id, number=DEMO_NUMBER, agent_id="receptionist"
            )
        if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)) is None:
            session.add(
                ApiKey(
                    org_id=org_id,
                    created_by=user_ids[0],
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
