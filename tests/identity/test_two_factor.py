"""Two-factor sign-in: TOTP codes (accepted once), single-use recovery codes, and an
owner's requirement for every member."""

from __future__ import annotations

import time

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from commbase.identity.models import AuditEntry
from commbase.identity.roles import Role
from commbase.identity.two_factor.models import TwoFactor
from tests.identity.factories import PASSWORD, add_member, auth, login, make_tenant


def _code(secret: str, *, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps_ahead)


async def _enrol(client: httpx.AsyncClient, email: str) -> tuple[str, list[str]]:
    setup = await client.post(
        "/v1/auth/two-factor/setup", json={"email": email, "password": PASSWORD}
    )
    assert setup.status_code == 200, setup.text
    assert setup.headers["cache-control"] == "no-store"
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_url"].startswith("otpauth://totp/commbase:")
    activated = await client.post(
        "/v1/auth/two-factor/activate",
        json={"email": email, "password": PASSWORD, "code": _code(secret, steps_ahead=-1)},
    )
    assert activated.status_code == 200, activated.text
    codes: list[str] = activated.json()["recovery_codes"]
    return secret, codes


async def _login(
    client: httpx.AsyncClient, email: str, code: str | None = None, **extra: str
) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, **extra}
    if code is not None:
        body["two_factor_code"] = code
    return await client.post("/v1/auth/login", json=body)


async def test_totp_required_accepted_once_and_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    _, email = await add_member(app, tenant, role=Role.AGENT)
    secret, recovery = await _enrol(client, email)
    assert len(recovery) == len(set(recovery)) == 10

    missing = await _login(client, email)
    assert missing.status_code == 401
    assert missing.json()["two_factor_required"] is True
    assert "token" not in missing.json()
    wrong = await _login(client, email, "000000" if _code(secret) != "000000" else "111111")
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "The two-factor code is wrong"

    code = _code(secret)
    accepted = await _login(client, email, code)
    assert accepted.status_code == 200, accepted.text
    # The same code a second time is refused: it was used.
    replayed = await _login(client, email, code)
    assert replayed.status_code == 401

    # A recovery code works once, in place of a TOTP code.
    assert (await _login(client, email, recovery[0].upper())).status_code == 200
    assert (await _login(client, email, recovery[0])).status_code == 401
    async with app.state.db.sessionmaker() as session:
        factor = await session.scalar(select(TwoFactor))
        assert factor is not None
        assert len(factor.recovery_code_hashes) == 9
        assert not set(recovery) & set(factor.recovery_code_hashes)
        assert secret not in factor.secret_sealed
        actions = list(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.org_id == tenant.org_id)
            )
        )
    assert "user.two_factor_enabled" in actions
    assert actions.count("auth.login_failed") >= 3

    # Turning it off takes the password and a code; sign-in is then one factor again.
    off = await client.post(
        "/v1/auth/two-factor/disable",
        json={"email": email, "password": PASSWORD, "code": recovery[1]},
    )
    assert off.status_code == 204, off.text
    assert (await _login(client, email)).status_code == 200


async def test_an_owner_requires_two_factor_for_every_member(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    _, agent_email = await add_member(app, tenant, role=Role.AGENT)
    admin = auth(await login(client, admin_email))
    owner = auth(await login(client, tenant.owner_email))

    url = "/v1/organizations/current/two-factor"
    assert (await client.put(url, json={"required": True}, headers=admin)).status_code == 403
    required = await client.put(url, json={"required": True}, headers=owner)
    assert required.status_code == 200, required.text
    assert (await client.get(url, headers=admin)).json() == {"required": True}

    refused = await _login(client, agent_email)
    assert refused.status_code == 403
    assert refused.json()["two_factor_enrollment_required"] is True
    secret, _ = await _enrol(client, agent_email)
    assert (await _login(client, agent_email, _code(secret))).status_code == 200

    await client.put(url, json={"required": False}, headers=owner)
    assert (await _login(client, admin_email)).status_code == 200


async def test_setup_needs_the_password(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    wrong = await client.post(
        "/v1/auth/two-factor/setup", json={"email": tenant.owner_email, "password": "nope nope"}
    )
    unknown = await client.post(
        "/v1/auth/two-factor/setup", json={"email": "ghost@example.com", "password": "nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
