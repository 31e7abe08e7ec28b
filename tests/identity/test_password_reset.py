"""Password reset by emailed link: the same answer for every email, a single-use
link stored hashed, and every session of the account ends with the new password."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from commbase.core.time import utcnow
from commbase.identity.accounts.models import AccountToken
from commbase.identity.members.models import Membership
from commbase.identity.models import AuditEntry
from commbase.identity.roles import Role
from commbase.settings import Settings
from tests.conftest import make_settings
from tests.identity.factories import PASSWORD, add_member, auth, login, make_tenant
from tests.identity.mailbox import Mailbox, mailbox, send_mail, text_of, token_in

__all__ = ["mailbox"]
NEW_PASSWORD = "a fresh password 2026"


@pytest.fixture
def settings(database_url: str, redis_url: str | None, mailbox: Mailbox) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
    )


async def test_reset_by_link_ends_every_session(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    person_id, email = await add_member(app, a, role=Role.ADMIN)
    # The person is a member of two organizations, signed in to both.
    async with app.state.db.sessionmaker() as session:
        session.add(Membership(org_id=b.org_id, user_id=person_id, role="agent"))
        await session.commit()
    in_a = auth(await login(client, email))
    in_b = auth(
        (
            await client.post(
                "/v1/auth/login",
                json={"email": email, "password": PASSWORD, "organization": b.slug},
            )
        ).json()["token"]
    )
    assert (await client.get("/v1/me", headers=in_a)).status_code == 200
    assert (await client.get("/v1/me", headers=in_b)).status_code == 200

    known = await client.post("/v1/auth/password-reset", json={"email": email.upper()})
    unknown = await client.post("/v1/auth/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert await send_mail(app) == 1
    [message] = mailbox.messages
    assert message["To"] == email
    assert message["Subject"] == "Reset your commbase password"
    assert "signs you out everywhere" in text_of(message)
    token = token_in(message)
    async with app.state.db.sessionmaker() as session:
        [row] = (await session.scalars(select(AccountToken))).all()
        assert row.token_hash != token
        assert row.sealed is None

    done = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"status": "password_changed", "sessions_revoked": 2}
    for headers in (in_a, in_b):
        assert (await client.get("/v1/me", headers=headers)).status_code == 401
    old = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    assert await login(client, email, NEW_PASSWORD)
    again = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": "yet another one"}
    )
    assert again.status_code == 400
    async with app.state.db.sessionmaker() as session:
        audited = list(
            await session.scalars(
                select(AuditEntry.org_id).where(AuditEntry.action == "user.password_reset")
            )
        )
    assert sorted(audited) == sorted([a.org_id, b.org_id])


async def test_an_expired_or_superseded_reset_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tenant = await make_tenant(app)
    for _ in range(2):
        await client.post("/v1/auth/password-reset", json={"email": tenant.owner_email})
        await send_mail(app)
    first, second = (token_in(m) for m in mailbox.to(tenant.owner_email))
    superseded = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": first, "password": NEW_PASSWORD}
    )
    assert superseded.status_code == 400
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(AccountToken)
            .where(AccountToken.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": second, "password": NEW_PASSWORD}
    )
    assert expired.status_code == 400
    assert await login(client, tenant.owner_email, PASSWORD)


async def test_reset_requests_are_limited_alike_for_known_and_unknown(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    limit = app.state.settings.account_email_limit
    for email in (tenant.owner_email, "stranger@example.com"):
        answers = [
            (await client.post("/v1/auth/password-reset", json={"email": email})).status_code
            for _ in range(limit + 1)
        ]
        assert answers == [202] * limit + [429]
