"""Sign-up: a person opens an organization, becomes its owner and verifies their
email through a link that a real SMTP server receives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from commbase.core.time import utcnow
from commbase.identity.accounts.models import AccountToken, Signup
from commbase.identity.models import AuditEntry, User
from commbase.settings import Settings
from tests.conftest import client_for, make_settings
from tests.identity.factories import auth, login
from tests.identity.mailbox import Mailbox, html_of, mailbox, send_mail, text_of, token_in

__all__ = ["mailbox"]

PASSWORD = "a long enough password"


@pytest.fixture
def settings(database_url: str, redis_url: str | None, mailbox: Mailbox) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        signup_mode="open",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        account_link_base_url="https://app.example.com",
    )


def _signup(email: str, **extra: object) -> dict[str, object]:
    return {
        "email": email,
        "password": PASSWORD,
        "organization_name": "Acme Dental",
        "first_name": "Ada",
        **extra,
    }


async def _user(app: FastAPI, email: str) -> User:
    async with app.state.db.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert isinstance(user, User)
        return user


async def test_sign_up_opens_an_organization_and_verifies_by_emailed_link(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    response = await client.post(
        "/v1/auth/signup",
        json=_signup("Ada@Example.com", source="referral"),
        headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
            # The test client connects from 127.0.0.1, a trusted proxy by default.
            "X-Forwarded-For": "203.0.113.9",
            "CF-IPCountry": "cz",
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "email_sent"
    assert mailbox.messages == []  # nothing leaves before the mailer runs
    assert await send_mail(app) == 1
    [message] = mailbox.to("ada@example.com")
    assert message["Subject"] == "Confirm your email for Acme Dental"
    assert "Until you confirm it" in text_of(message)
    assert 'href="https://app.example.com/verify-email?token=' in html_of(message)
    token = token_in(message)

    user = await _user(app, "ada@example.com")
    assert user.source == "referral"
    assert user.email_verified is False
    assert user.metadata_ == {
        "registration_ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
        "country": "CZ",
    }
    # Signed in, the person owns the new organization.
    session_token = await login(client, "ada@example.com", PASSWORD)
    me = (await client.get("/v1/me", headers=auth(session_token))).json()
    assert me["role"] == "owner"
    assert me["organization"]["name"] == "Acme Dental"

    # The token is stored only hashed; the mailer wiped its sealed copy.
    async with app.state.db.sessionmaker() as session:
        [row] = (await session.scalars(select(AccountToken))).all()
        assert row.sealed is None
        assert token not in (row.token_hash, row.id)
        assert len(row.token_hash) == 64

    verified = await client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"status": "verified", "email": "ada@example.com"}
    assert (await _user(app, "ada@example.com")).email_verified is True
    again = await client.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["detail"] == "This link is invalid or has expired"

    async with app.state.db.sessionmaker() as session:
        signup = await session.scalar(select(Signup))
        assert signup is not None
        assert signup.verified_at is not None
        actions = set(await session.scalars(select(AuditEntry.action)))
    assert {"account.signed_up", "account.email_verified", "auth.login"} <= actions
    # A retried mailer sends nothing twice.
    assert await send_mail(app) == 0
    assert len(mailbox.messages) == 1


async def test_known_and_unknown_emails_get_the_same_answer(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    first = await client.post("/v1/auth/signup", json=_signup("bob@example.com"))
    known = await client.post("/v1/auth/signup", json=_signup("BOB@example.com"))
    unknown = await client.post("/v1/auth/signup", json=_signup("carol@example.com"))
    assert first.status_code == known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == first.json()
    assert known.headers.get("content-length") == unknown.headers.get("content-length")
    await send_mail(app)
    bob = mailbox.to("bob@example.com")
    # The mailer sends concurrently: the order of arrival is free.
    subjects = {m["Subject"]: m for m in bob}
    assert sorted(subjects) == [
        "Confirm your email for Acme Dental",
        "You already have a commbase account",
    ]
    assert "?token=" not in text_of(subjects["You already have a commbase account"])
    # No second organization for bob, and his password is untouched.
    token = await login(client, "bob@example.com", PASSWORD)
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    async with app.state.db.sessionmaker() as session:
        assert len((await session.scalars(select(Signup))).all()) == 2  # bob, carol


async def test_expired_and_superseded_links_are_refused(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await client.post("/v1/auth/signup", json=_signup("dan@example.com"))
    await send_mail(app)
    first = token_in(mailbox.to("dan@example.com")[0])
    session_token = await login(client, "dan@example.com", PASSWORD)
    resent = await client.post("/v1/auth/verify-email/resend", headers=auth(session_token))
    assert resent.status_code == 202, resent.text
    await send_mail(app)
    second = token_in(mailbox.to("dan@example.com")[1])
    assert first != second
    # The first link stopped working when the second was issued.
    old = await client.post("/v1/auth/verify-email", json={"token": first})
    assert old.status_code == 400
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(AccountToken)
            .where(AccountToken.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await client.post("/v1/auth/verify-email", json={"token": second})
    assert expired.status_code == 400
    assert old.json() == expired.json() | {"instance": old.json().get("instance")}
    assert (await _user(app, "dan@example.com")).email_verified is False
    unknown = await client.post("/v1/auth/verify-email", json={"token": "x" * 43})
    assert unknown.status_code == 400


async def test_untrusted_proxy_headers_are_not_believed(app: FastAPI, mailbox: Mailbox) -> None:
    async with client_for(app, ip="198.51.100.7") as outsider:
        response = await outsider.post(
            "/v1/auth/signup",
            json=_signup("eve@example.com"),
            headers={"X-Forwarded-For": "203.0.113.1", "CF-IPCountry": "US"},
        )
    assert response.status_code == 202
    user = await _user(app, "eve@example.com")
    assert user.metadata_["registration_ip"] == "198.51.100.7"
    assert user.metadata_["country"] is None


async def test_sign_up_per_address_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    limit = app.state.settings.account_email_limit
    for _ in range(limit):
        ok = await client.post("/v1/auth/signup", json=_signup("fay@example.com"))
        assert ok.status_code == 202
    refused = await client.post("/v1/auth/signup", json=_signup("fay@example.com"))
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


@pytest.mark.parametrize("mode", ["invite_only", "closed"])
async def test_sign_up_refused_unless_open(
    database_url: str, redis_url: str | None, mode: str
) -> None:
    from asgi_lifespan import LifespanManager

    from commbase.app import create_app

    application = create_app(make_settings(database_url, redis_url, signup_mode=mode))
    async with LifespanManager(application), client_for(application) as http:
        response = await http.post("/v1/auth/signup", json=_signup("gil@example.com"))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_without_smtp_mail_goes_to_a_folder(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    from asgi_lifespan import LifespanManager

    from commbase.app import create_app

    folder = tmp_path / "mail"
    application = create_app(
        make_settings(database_url, redis_url, signup_mode="open", email_dir=str(folder))
    )
    async with LifespanManager(application), client_for(application) as http:
        assert (await http.post("/v1/auth/signup", json=_signup("hal@example.com"))).status_code
        assert await send_mail(application) == 1
    [written] = list(folder.glob("*.eml"))
    content = written.read_text()
    assert "To: hal@example.com" in content
    assert "verify-email?token=" in content


async def test_until_verified_the_organization_neither_calls_nor_messages(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await client.post("/v1/auth/signup", json=_signup("ivy@example.com"))
    await send_mail(app)
    token = token_in(mailbox.to("ivy@example.com")[0])
    headers = auth(await login(client, "ivy@example.com", PASSWORD))
    account = await client.post(
        "/v1/channel-accounts", json={"kind": "sms", "name": "Line"}, headers=headers
    )
    assert account.status_code == 201, account.text
    contact = await client.post(
        "/v1/contacts", json={"name": "Jana", "phone": "+420601555111"}, headers=headers
    )
    conversation = await client.post(
        "/v1/conversations",
        json={"account_id": account.json()["id"], "contact_id": contact.json()["id"]},
        headers=headers,
    )
    assert conversation.status_code == 201, conversation.text
    send_url = f"/v1/conversations/{conversation.json()['id']}/messages"

    message = await client.post(send_url, json={"body": "Hello"}, headers=headers)
    call = await client.post("/v1/calls", json={"to": "+14155550100"}, headers=headers)
    for refused in (message, call):
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"].startswith("Verify your email first")

    assert (await client.post("/v1/auth/verify-email", json={"token": token})).status_code == 200
    message = await client.post(send_url, json={"body": "Hello"}, headers=headers)
    assert message.status_code == 202, message.text
    call = await client.post("/v1/calls", json={"to": "+14155550100"}, headers=headers)
    assert call.status_code != 403, call.text
