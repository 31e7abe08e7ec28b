"""GDPR erasure: nothing personal about the subject survives, and nothing else is touched."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.billing.models import LedgerEntry
from commbase.calls.models import Call
from commbase.core.time import FrozenClock
from commbase.identity.models import User
from commbase.identity.roles import Role
from commbase.models import Base
from commbase.privacy.records import personal_columns
from tests.calls.factories import ANSWERED_94S, fund_wallet, place, run_clock
from tests.identity.factories import PASSWORD, add_member, auth, login, make_tenant
from tests.privacy.factories import add_person, download, request_erasure, request_export

PROBLEM = "application/problem+json"


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):  # an export's zip: look inside
        with zipfile.ZipFile(io.BytesIO(value)) as archive:
            return "\n".join(archive.read(name).decode() for name in archive.namelist())
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def personal_values(app: FastAPI) -> list[tuple[str, str, str]]:
    """Every non-empty value of every column marked personal, in every table."""
    found = []
    async with app.state.db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = personal_columns(table)
            if not columns:
                continue
            for row in await connection.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value not in (None, "", {}, []):
                        found.append((table.name, column.name, _as_text(value)))
    return found


async def _ledger(app: FastAPI, wallet_id: str) -> list[LedgerEntry]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.wallet_id == wallet_id).order_by(LedgerEntry.id)
        )
        return list(rows)


async def test_erasing_a_user_leaves_no_personal_column_with_their_data(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")
    person = await add_person(app, client, clock, a, email="ursula@alpha.example")
    bystander = await add_person(
        app,
        client,
        clock,
        a,
        email="walter@alpha.example",
        first_name="Walter",
        last_name="Bishop",
        phone="+14155553333",
        ip="198.51.100.9",
    )
    before = await personal_values(app)
    assert {v for _, _, v in before if person.email in v}, "the walk should see the person first"
    wallet_before = (await client.get(f"/v1/wallets/{person.wallet_id}", headers=a.headers)).json()
    ledger_before = await _ledger(app, person.wallet_id)
    export = await request_export(client, a.headers, "user", person.user_id)
    await download(client, a.headers, export["id"])

    erasure = await request_erasure(client, a.headers, "user", person.user_id)

    assert erasure["kind"] == "erasure"
    assert erasure["counts"] == {
        "agent_sessions": 2,
        "api_keys": 0,
        "audit_log": 1,  # signed in
        "call_actions": 1,
        "call_events": erasure["counts"]["call_events"],
        "calls": 1,
        "contacts": 1,
        "ledger_entries": len([e for e in ledger_before if e.user_id == person.user_id]),
        "login_sessions": 1,
        "memberships": 1,
        "privacy_requests": 1,
        "transcripts": 1,
        "users": 1,
        "video_participants": 0,
        "video_rooms": 0,
        "wallets": 1,
        "outbox_events": erasure["counts"]["outbox_events"],
        "webhook_deliveries": 0,
        "conversation_notes": 0,
        "conversations": 0,
        "messages": 0,
        # Domains where this person holds nothing (their own tests erase records).
        **dict.fromkeys(
            (
                "agent_personalizations",
                "billing_customers",
                "bookings",
                "call_recordings",
                "comments",
                "consultations",
                "favorites",
                "job_applications",
                "job_interviews",
                "leads",
                "suggestion_comments",
                "suggestion_votes",
                "suggestions",
                "support_ticket_messages",
                "support_tickets",
                "webinar_registrations",
            ),
            0,
        ),
    }
    assert erasure["counts"]["call_events"] >= 3
    assert erasure["counts"]["outbox_events"] >= 1  # e.g. call.completed names the user
    leaks = [
        (table, column, needle)
        for table, column, value in await personal_values(app)
        for needle in person.needles
        if needle in value
    ]
    assert leaks == []
    # The bystander keeps everything.
    bystander_values = [v for _, _, v in await personal_values(app) if bystander.phone in v]
    assert len(bystander_values) == len([v for _, _, v in before if bystander.phone in v])
    bystander_call = await client.get(f"/v1/calls/{bystander.call_id}", headers=a.headers)
    assert bystander_call.json()["to_number"] == ANSWERED_94S

    # Money records stay, under an anonymous reference, and add up as before.
    wallet_after = (await client.get(f"/v1/wallets/{person.wallet_id}", headers=a.headers)).json()
    assert (wallet_after["balance"], wallet_after["held"]) == (
        wallet_before["balance"],
        wallet_before["held"],
    )
    assert wallet_after["owner_id"].startswith("anon_")
    ledger_after = await _ledger(app, person.wallet_id)
    assert [(e.id, e.amount, e.balance_after) for e in ledger_after] == [
        (e.id, e.amount, e.balance_after) for e in ledger_before
    ]
    assert {e.user_id for e in ledger_before if e.user_id} == {person.user_id}
    assert {e.user_id for e in ledger_after if e.user_id} == {wallet_after["owner_id"]}
    # The call stays for the organization's counts, with nothing personal on it.
    call = (await client.get(f"/v1/calls/{person.call_id}", headers=a.headers)).json()
    assert (call["status"], call["to_number"], call["from_number"]) == ("completed", None, None)
    async with app.state.db.sessionmaker() as session:
        stored = await session.get(Call, person.call_id)
        user = await session.get(User, person.user_id)
    assert stored is not None
    assert stored.user_id == wallet_after["owner_id"]
    assert user is not None
    assert (user.status, user.password_hash, user.name) == ("deleted", None, "")
    assert user.email == f"erased+{wallet_after['owner_id']}@invalid"

    # The agent they opened for others stops; the one acting for them is gone.
    guest_id, acting_id = person.agent_session_ids
    guest = (await client.get(f"/v1/agent-sessions/{guest_id}", headers=a.headers)).json()
    assert guest["status"] == "terminated"
    assert datetime.fromisoformat(guest["terminated_at"]) == clock.now()
    acting = await client.get(f"/v1/agent-sessions/{acting_id}", headers=a.headers)
    assert acting.status_code == 404
    # The person is gone from the organization, and their credentials with them.
    assert (await client.get("/v1/me", headers=auth(person.token))).status_code == 401
    assert (await client.get(f"/v1/users/{person.user_id}", headers=a.headers)).status_code == 404
    again = await client.post(
        "/v1/privacy/exports",
        json={"subject_type": "user", "subject_id": person.user_id},
        headers=a.headers,
    )
    assert again.status_code == 404
    shown = await client.get(f"/v1/privacy/erasures/{erasure['id']}", headers=a.headers)
    assert shown.json() == erasure
    audit = await client.get(
        "/v1/audit-log", params={"action": "privacy.erasure_completed"}, headers=a.headers
    )
    [entry] = audit.json()["data"]
    assert (entry["target_type"], entry["target_id"]) == ("user", person.user_id)
    assert entry["details"]["counts"] == erasure["counts"]


async def test_a_member_of_two_organizations_keeps_the_other_ones_data(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    person = await add_person(app, client, clock, a, email="ursula@both.example")
    in_b = await add_person(app, client, clock, b, email="ursula@both.example")
    assert in_b.user_id == person.user_id

    erasure = await request_erasure(client, a.headers, "user", person.user_id)

    assert erasure["counts"]["users"] == 0
    assert erasure["counts"]["memberships"] == 1
    # Alpha has nothing left of them; Bravo everything.
    assert (await client.get(f"/v1/users/{person.user_id}", headers=a.headers)).status_code == 404
    shown = await client.get(f"/v1/users/{person.user_id}", headers=b.headers)
    assert (shown.status_code, shown.json()["email"]) == (200, "ursula@both.example")
    contacts = (await client.get("/v1/contacts", headers=b.headers)).json()["data"]
    assert [c["id"] for c in contacts] == [in_b.contact_id]
    call = (await client.get(f"/v1/calls/{in_b.call_id}", headers=b.headers)).json()
    assert call["from_number"] == person.phone
    assert (await client.get("/v1/me", headers=auth(in_b.token))).status_code == 200
    assert (await client.get("/v1/me", headers=auth(person.token))).status_code == 401
    export = await request_export(client, b.headers, "user", person.user_id)
    files, _ = await download(client, b.headers, export["id"])
    assert files["user.json"][0]["email"] == "ursula@both.example"
    assert [c["id"] for c in files["calls.json"]] == [in_b.call_id]


async def test_the_last_owner_cannot_be_erased(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await make_tenant(app)

    response = await client.post(
        "/v1/privacy/erasures",
        json={"subject_type": "user", "subject_id": a.owner_id},
        headers=a.headers,
    )

    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert (await client.get("/v1/me", headers=a.headers)).status_code == 200


async def test_erasing_a_contact_anonymises_the_calls_to_it_and_nothing_else(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    ids: dict[str, tuple[str, str, str]] = {}
    for tenant in (a, b):
        await fund_wallet(client, tenant.headers, amount=1000)
        contact = await client.post(
            "/v1/contacts",
            json={"name": "Dana Customer", "phone": ANSWERED_94S},
            headers=tenant.headers,
        )
        call = (await place(client, tenant.headers, ANSWERED_94S)).json()
        other = (await place(client, tenant.headers, "+14155557777")).json()
        ids[tenant.org_id] = (contact.json()["id"], call["id"], other["id"])
    await run_clock(app, clock, 110, step=5)
    contact_id, call_id, other_id = ids[a.org_id]
    await client.put(
        f"/v1/calls/{call_id}/transcript",
        json={"segments": [{"speaker": "callee", "text": "Dana here", "start": 0, "end": 1}]},
        headers=a.headers,
    )

    erasure = await request_erasure(client, a.headers, "contact", contact_id)

    assert erasure["counts"]["contacts"] == 1
    assert erasure["counts"]["calls"] == 1
    assert erasure["counts"]["transcripts"] == 1
    assert (await client.get(f"/v1/contacts/{contact_id}", headers=a.headers)).status_code == 404
    call = (await client.get(f"/v1/calls/{call_id}", headers=a.headers)).json()
    assert (call["status"], call["to_number"]) == ("completed", None)
    transcript = await client.get(f"/v1/calls/{call_id}/transcript", headers=a.headers)
    assert transcript.status_code == 404
    other = (await client.get(f"/v1/calls/{other_id}", headers=a.headers)).json()
    assert other["to_number"] == "+14155557777"
    b_contact, b_call, _ = ids[b.org_id]
    assert (await client.get(f"/v1/contacts/{b_contact}", headers=b.headers)).status_code == 200
    b_call_body = (await client.get(f"/v1/calls/{b_call}", headers=b.headers)).json()
    assert b_call_body["to_number"] == ANSWERED_94S
    leaks = [
        (table, column)
        for table, column, value in await personal_values(app)
        if "Dana" in value and table != "contacts"
    ]
    assert leaks == []


async def test_another_organizations_subjects_and_requests_are_unknown(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    member, _ = await add_member(app, b, role=Role.AGENT)
    contact = (await client.post("/v1/contacts", json={"name": "Eve"}, headers=b.headers)).json()
    b_export = await request_export(client, b.headers, "contact", contact["id"])
    for path in ("/v1/privacy/exports", "/v1/privacy/erasures"):
        for subject_type, real in (("user", member), ("contact", contact["id"])):
            never = real.split("_")[0] + "_" + "0" * 26
            answers = [
                await client.post(
                    path, json={"subject_type": subject_type, "subject_id": sid}, headers=a.headers
                )
                for sid in (real, never)
            ]
            assert [r.status_code for r in answers] == [404, 404]
            assert answers[0].json()["detail"] == answers[1].json()["detail"]
    for path in (
        f"/v1/privacy/exports/{b_export['id']}",
        f"/v1/privacy/exports/{b_export['id']}/download",
        f"/v1/privacy/erasures/{b_export['id']}",  # and an export is not an erasure
    ):
        assert (await client.get(path, headers=a.headers)).status_code == 404
        assert (await client.get(path, headers=b.headers)).status_code == (
            404 if "erasures" in path else 200
        )
    assert (await client.get(f"/v1/contacts/{contact['id']}", headers=b.headers)).status_code == 200


async def test_bad_requests_are_problems(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await make_tenant(app)
    for body in (
        {"subject_type": "robot", "subject_id": "usr_1"},
        {"subject_type": "user"},
        {"subject_type": "user", "subject_id": "'; drop table users; --"},
        {"subject_type": "user", "subject_id": "usr_" + "1" * 60},
        {"subject_type": "user", "subject_id": "usr_1", "extra": True},
        {"subject_type": "email", "subject_id": "usr_1"},
        {"subject_type": "email", "subject_id": "vera@"},
        {"subject_type": "contact", "subject_id": "vera@visitor.example"},
    ):
        for path in ("/v1/privacy/exports", "/v1/privacy/erasures"):
            response = await client.post(path, json=body, headers=a.headers)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["errors"]


async def test_privacy_needs_its_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await make_tenant(app)
    _, email = await add_member(app, a, role=Role.VIEWER)
    token = await login(client, email, PASSWORD)

    for method, path, body in (
        ("POST", "/v1/privacy/exports", {"subject_type": "user", "subject_id": a.owner_id}),
        ("POST", "/v1/privacy/erasures", {"subject_type": "user", "subject_id": a.owner_id}),
        ("GET", "/v1/privacy/retention", None),
    ):
        response = await client.request(method, path, json=body, headers=auth(token))
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/scope-missing"
