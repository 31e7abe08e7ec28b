"""Builders for privacy tests: a person with a record in every domain, and the API calls."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.core.time import FrozenClock
from commbase.identity import service as identity_service
from commbase.identity.roles import Role
from commbase.identity.schemas import Preferences, UserCreate
from tests.calls.factories import ANSWERED_94S, fund_wallet, place, run_clock
from tests.conftest import client_for
from tests.identity.factories import PASSWORD, Tenant, auth

PERSON_IP = "203.0.113.77"


@dataclass
class Person:
    """A member with a trace in every domain, and the values that identify them."""

    user_id: str
    email: str
    phone: str
    first_name: str
    last_name: str
    token: str
    wallet_id: str
    call_id: str
    contact_id: str
    agent_session_ids: list[str]
    ip: str
    user_agent: str

    @property
    def needles(self) -> list[str]:
        """Strings that must not survive an erasure in any personal column."""
        return [
            self.user_id,
            self.email,
            self.phone,
            self.first_name,
            self.last_name,
            self.ip,
            self.user_agent,
        ]


async def add_person(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    tenant: Tenant,
    *,
    email: str,
    first_name: str = "Ursula",
    last_name: str = "Quintero",
    phone: str = "+14155559876",
    ip: str = PERSON_IP,
) -> Person:
    """A member who signed in from their phone, placed a call, and keeps a contact book."""
    async with app.state.db.sessionmaker() as session:
        user, _ = await identity_service.create_user(
            session,
            data=UserCreate(
                email=email,
                password=PASSWORD,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                role=Role.AGENT,
                preferences=Preferences(default_caller_id=phone),
            ),
            org_id=tenant.org_id,
        )
        await session.commit()
    user_agent = f"{first_name}Phone/7.1"
    async with client_for(app, ip=ip) as phone_client:
        phone_client.headers["User-Agent"] = user_agent
        login = await phone_client.post(
            "/v1/auth/login",
            json={"email": email, "password": PASSWORD, "organization": tenant.slug},
        )
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        guest = await phone_client.post(
            "/v1/agent-sessions",
            json={"agent_context": {"agent_id": "ursula-bot"}},
            headers=auth(token),
        )
        assert guest.status_code == 201, guest.text
    acting = await client.post(
        "/v1/agent-sessions",
        json={
            "session_type": "authenticated",
            "user_id": user.id,
            "agent_context": {"agent_id": "assistant"},
        },
        headers=tenant.headers,
    )
    assert acting.status_code == 201, acting.text
    contact = await client.post(
        "/v1/contacts",
        # One phone, one contact per organization: each member's dentist has their own.
        json={"name": f"{first_name}'s dentist", "phone": f"+1202555{phone[-4:]}"},
        headers=auth(token),
    )
    assert contact.status_code == 201, contact.text
    wallet = await fund_wallet(
        client, tenant.headers, amount=1000, owner_type="user", owner_id=user.id
    )
    placed = await place(
        client, auth(token), ANSWERED_94S, metadata={"purpose": f"call for {first_name}"}
    )
    assert placed.status_code == 201, placed.text
    call_id = placed.json()["id"]
    await run_clock(app, clock, 6)
    dtmf = await client.post(
        f"/v1/calls/{call_id}/actions",
        json={"action": "dtmf", "parameters": {"digits": "42#"}},
        headers=auth(token),
    )
    assert dtmf.status_code == 201, dtmf.text
    await run_clock(app, clock, 100, step=5)
    said = f"Hello, this is {first_name} {last_name}, call me on {phone}"
    transcript = await client.put(
        f"/v1/calls/{call_id}/transcript",
        json={
            "segments": [{"speaker": "caller", "text": said, "start": 0, "end": 3}],
            "status": "completed",
        },
        headers=auth(token),
    )
    assert transcript.status_code == 200, transcript.text
    return Person(
        user_id=user.id,
        email=email,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        token=token,
        wallet_id=wallet["id"],
        call_id=call_id,
        contact_id=contact.json()["id"],
        agent_session_ids=[guest.json()["id"], acting.json()["id"]],
        ip=ip,
        user_agent=user_agent,
    )


async def request_export(
    client: httpx.AsyncClient, headers: dict[str, str], subject_type: str, subject_id: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/privacy/exports",
        json={"subject_type": subject_type, "subject_id": subject_id},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def request_erasure(
    client: httpx.AsyncClient, headers: dict[str, str], subject_type: str, subject_id: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/privacy/erasures",
        json={"subject_type": subject_type, "subject_id": subject_id},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def download(
    client: httpx.AsyncClient, headers: dict[str, str], export_id: str
) -> tuple[dict[str, Any], str]:
    """The export's files parsed (name -> JSON), and all their text joined."""
    response = await client.get(f"/v1/privacy/exports/{export_id}/download", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    files: dict[str, Any] = {}
    texts = []
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode()
            texts.append(text)
            files[name] = json.loads(text)
    return files, "\n".join(texts)
