"""Small builders for identity test data, through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.core.auth import Principal, PrincipalKind
from commbase.core.http import ClientInfo
from commbase.core.jobs import JobRun, get_job, run_job
from commbase.core.ratelimit import RateLimitRule
from commbase.core.scopes import Scope
from commbase.identity import service
from commbase.identity.api_keys import service as api_keys
from commbase.identity.api_keys.schemas import ApiKeyCreate
from commbase.identity.roles import Role, scopes_for
from commbase.identity.schemas import UserCreate

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Tenant:
    """An organization with one owner and an owner's API key."""

    org_id: str
    slug: str
    owner_id: str
    owner_email: str
    api_key: str
    api_key_id: str
    extra_keys: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def principal_for(*, org_id: str, user_id: str, role: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER_SESSION,
        org_id=org_id,
        credential_id="test",
        scopes=scopes_for(role),
        rate_limit=RateLimitRule("test", 1000, 60),
        user_id=user_id,
        role=role,
    )


async def make_tenant(app: FastAPI, *, name: str | None = None) -> Tenant:
    n = next(_counter)
    name = name or f"Tenant {n}"
    settings = app.state.settings
    async with app.state.db.sessionmaker() as session:
        org = await service.create_organization(session, name=name)
        email = f"owner{n}@{org.slug}.example"
        owner, _ = await service.create_user(
            session,
            data=UserCreate(email=email, password=PASSWORD, first_name="Owner", role=Role.OWNER),
            org_id=org.id,
        )
        key, secret = await api_keys.create_key(
            session,
            data=ApiKeyCreate(name="owner key"),
            actor=principal_for(org_id=org.id, user_id=owner.id, role=Role.OWNER),
            client=ClientInfo(None, None, None, None),
            secret=settings.secret_key.get_secret_value(),
            tiers=settings.rate_limit_tiers,
        )
        await session.commit()
        return Tenant(org.id, org.slug, owner.id, email, secret, key.id)


async def add_member(
    app: FastAPI, tenant: Tenant, *, role: Role, email: str | None = None
) -> tuple[str, str]:
    """Add a member with ``role``; returns (user id, email)."""
    email = email or f"{role.value}{next(_counter)}@{tenant.slug}.example"
    async with app.state.db.sessionmaker() as session:
        user, _ = await service.create_user(
            session,
            data=UserCreate(email=email, password=PASSWORD, role=role),
            org_id=tenant.org_id,
        )
        await session.commit()
        return user.id, email


async def run_operator_job(app: FastAPI, name: str) -> JobRun:
    """Run a job for every organization now, as `commbase jobs run NAME` does."""
    return await run_job(app.state.db, get_job(name), services=app.state.job_services)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def create_key(client: httpx.AsyncClient, token: str, **body: object) -> dict[str, Any]:
    body.setdefault("name", "test key")
    response = await client.post("/v1/api-keys", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


ALL = frozenset(Scope)
