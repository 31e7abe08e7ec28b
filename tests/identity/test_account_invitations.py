"""Invitations by emailed link: a new account sets its password, an existing one
joins a second organization; links are single-use, expire and are stored hashed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from commbase.core.time import utcnow
from commbase.identity.accounts.models import AccountToken
from commbase.identity.models import AuditEntry
from commbase.identity.roles import Role
from commbase.settings import Settings
from tests.conftest import make_settings
from tests.identity.factories import PASSWORD, add_member, auth, login, make_tenant
from tests.identity.mailbox import Mailbox, html_of, mailbox, send_mail, text_of, token_in

__all__ = ["mailbox"]


@pytest.fixture
def settings(database_url: str, redis_url: str | None, mailbox: Mailbox) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        account_link_base_url="https://app.example.com",
    )


async def _invite(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, role: str = "agent"
) -> httpx.Response:
    return await client.post(
        "/v1/invitations",
        json={"email": email, "role": role, "first_name": "Ines"},
        headers=headers,
    )


async def test_a_new_account_accepts_by_link_and_sets_its_password(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tenant = await make_tenant(app, name="Clinic <b>One</b>")
    invited = await _invite(client, tenant.headers, "New.Person@example.com")
    assert invited.status_code == 201, invited.text
    assert invited.json()["status"] == "invited"
    assert await send_mail(app) == 1
    [message] = mailbox.to("new.person@example.com")
    assert message["Subject"] == "You are invited to Clinic <b>One</b>"
    assert "as agent" in text_of(message)
    assert "Clinic &lt;b&gt;One&lt;/b&gt;" in html_of(message)
    token = token_in(message)
    async with app.state.db.sessionmaker() as session:
        [row] = (await session.scalars(select(AccountToken))).all()
        assert row.sealed is None
        assert row.token_hash != token

    accepted = await client.post(
        "/v1/auth/invitations/accept",
        json={"token": token, "password": "a brand new password", "last_name": "Person"},
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["organization"]["id"] == tenant.org_id
    assert body["user"]["email"] == "new.person@example.com"
    assert body["user"]["email_verified"] is True
    me = await client.get("/v1/me", headers=auth(body["token"]))
    assert me.json()["role"] == "agent"
    assert await login(client, "new.person@example.com", "a brand new password")

    again = await client.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": "another password!"}
    )
    assert again.status_code == 400
    members = await client.get("/v1/members", params={"status": "active"}, headers=tenant.headers)
    assert "new.person@example.com" in members.text
    async with app.state.db.sessionmaker() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.org_id == tenant.org_id)
            )
        )
    assert "member.invited" in actions
    assert "member.joined" in actions


async def test_an_existing_account_joins_a_second_organization(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    person_id, email = await add_member(app, a, role=Role.ADMIN)
    known = await _invite(client, b.headers, email)
    unknown = await _invite(client, b.headers, "someone.else@example.com")
    assert known.status_code == unknown.status_code == 201
    assert set(known.json()) == set(unknown.json())
    assert person_id not in known.text
    await send_mail(app)
    token = token_in(mailbox.to(email)[0])

    wrong = await client.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": "not my password"}
    )
    assert wrong.status_code == 401
    # A wrong password does not use up the link, nor change the account.
    accepted = await client.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["organization"]["id"] == b.org_id
    assert accepted.json()["user"]["id"] == person_id

    # Sign-in picks an organization: the one named, else the oldest membership.
    default = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert default.json()["organization"]["id"] == a.org_id
    named = await client.post(
        "/v1/auth/login", json={"email": email, "password": PASSWORD, "organization": b.slug}
    )
    assert named.json()["organization"]["id"] == b.org_id
    me = await client.get("/v1/me", headers=auth(named.json()["token"]))
    assert me.json()["role"] == "agent"


async def test_expired_and_cancelled_invitation_links_are_refused(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tenant = await make_tenant(app)
    first = await _invite(client, tenant.headers, "late@example.com")
    await _invite(client, tenant.headers, "gone@example.com")
    await send_mail(app)
    late, gone = (
        token_in(mailbox.to("late@example.com")[0]),
        token_in(mailbox.to("gone@example.com")[0]),
    )
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(AccountToken)
            .where(AccountToken.membership_id == first.json()["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await client.post(
        "/v1/auth/invitations/accept", json={"token": late, "password": "long enough pw"}
    )
    assert expired.status_code == 400
    members = await client.get("/v1/members", params={"status": "invited"}, headers=tenant.headers)
    gone_id = next(
        m["id"] for m in members.json()["data"] if m["invitation"]["email"] == "gone@example.com"
    )
    assert (
        await client.delete(f"/v1/members/{gone_id}", headers=tenant.headers)
    ).status_code == 204
    cancelled = await client.post(
        "/v1/auth/invitations/accept", json={"token": gone, "password": "long enough pw"}
    )
    assert cancelled.status_code == 400
    assert cancelled.json()["detail"] == expired.json()["detail"]
    # The account made for that invitation alone was closed, its links with it.
    async with app.state.db.sessionmaker() as session:
        left = await session.scalars(
            select(AccountToken.membership_id).where(AccountToken.membership_id == gone_id)
        )
        assert list(left) == []


async def test_an_agent_cannot_invite(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    _, email = await add_member(app, tenant, role=Role.AGENT)
    token = await login(client, email)
    refused = await _invite(client, auth(token), "x@example.com")
    assert refused.status_code == 403
    admin_id, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin = auth(await login(client, admin_email))
    assert (await _invite(client, admin, "o@example.com", role="owner")).status_code == 403
    assert admin_id
