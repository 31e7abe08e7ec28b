"""GDPR exports: a zip of every record about a user or a contact, and nothing of anyone else's."""

from __future__ import annotations

from datetime import datetime

import httpx
from fastapi import FastAPI

from commbase.core.time import FrozenClock
from tests.calls.factories import ANSWERED_94S, fund_wallet, place, run_clock
from tests.identity.factories import make_tenant
from tests.privacy.factories import (
    PERSON_IP,
    add_person,
    download,
    request_erasure,
    request_export,
)

USER_FILES = {
    "agent_personalizations.json",
    "agent_sessions.json",
    "api_keys.json",
    "audit_log.json",
    "billing_customers.json",
    "bookings.json",
    "bookings_as_staff.json",
    "call_actions.json",
    "call_recordings.json",
    "call_events.json",
    "calls.json",
    "comments.json",
    "consultations.json",
    "contacts.json",
    "conversation_notes.json",
    "conversations.json",
    "events.json",
    "favorites.json",
    "job_applications.json",
    "job_interviews.json",
    "leads.json",
    "ledger_entries.json",
    "login_sessions.json",
    "manifest.json",
    "memberships.json",
    "messages.json",
    "privacy_requests.json",
    "suggestion_comments.json",
    "suggestion_votes.json",
    "suggestions.json",
    "support_ticket_messages.json",
    "support_ticket_messages_written.json",
    "support_tickets.json",
    "transcripts.json",
    "user.json",
    "video_participants.json",
    "video_rooms.json",
    "wallets.json",
    "webinar_registrations.json",
}


async def test_a_users_export_holds_their_records_in_every_domain(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    person = await add_person(app, client, clock, a, email="ursula@alpha.example")
    other = await add_person(
        app, client, clock, b, email="olga@bravo.example", first_name="Olga", phone="+14155554321"
    )

    export = await request_export(client, a.headers, "user", person.user_id)

    assert (export["kind"], export["status"], export["subject_id"]) == (
        "export",
        "completed",
        person.user_id,
    )
    assert export["download_url"] == f"/v1/privacy/exports/{export['id']}/download"
    files, text = await download(client, a.headers, export["id"])
    assert set(files) == USER_FILES
    assert export["counts"] == {
        name.removesuffix(".json"): len(rows)
        for name, rows in files.items()
        if name != "manifest.json"
    }
    [user] = files["user.json"]
    assert (user["id"], user["email"], user["phone"]) == (
        person.user_id,
        person.email,
        person.phone,
    )
    assert "password_hash" not in user
    datetime.fromisoformat(user["created_at"])  # JSON with ISO datetimes
    assert [m["org_id"] for m in files["memberships.json"]] == [a.org_id]
    [login] = files["login_sessions.json"]
    assert login["ip_address"] == PERSON_IP
    assert "token_hash" not in login
    assert sorted(s["id"] for s in files["agent_sessions.json"]) == sorted(person.agent_session_ids)
    assert all("token_hash" not in s for s in files["agent_sessions.json"])
    assert [c["id"] for c in files["contacts.json"]] == [person.contact_id]
    [call] = files["calls.json"]
    assert (call["id"], call["from_number"]) == (person.call_id, person.phone)
    assert [e["call_id"] for e in files["call_events.json"]] == [person.call_id] * len(
        files["call_events.json"]
    )
    assert files["call_events.json"]
    assert [a["parameters"] for a in files["call_actions.json"]] == [{"digits": "42#"}]
    assert person.last_name in files["transcripts.json"][0]["text"]
    assert [w["id"] for w in files["wallets.json"]] == [person.wallet_id]
    assert {e["category"] for e in files["ledger_entries.json"]} >= {"call_charge"}
    assert any(e["action"] == "auth.login" for e in files["audit_log.json"])
    manifest = files["manifest.json"]
    assert (manifest["subject_type"], manifest["subject_id"]) == ("user", person.user_id)
    assert manifest["files"]["calls.json"] == 1
    # Nothing of another organization, nor of its people.
    for foreign in (b.org_id, other.user_id, other.email, other.call_id, other.wallet_id):
        assert foreign not in text


async def test_a_contacts_export_holds_the_contact_and_the_calls_to_it(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    ids = {}
    for tenant in (a, b):
        await fund_wallet(client, tenant.headers, amount=1000)
        contact = await client.post(
            "/v1/contacts",
            json={"name": "Dana Customer", "phone": ANSWERED_94S, "notes": "prefers mornings"},
            headers=tenant.headers,
        )
        assert contact.status_code == 201, contact.text
        call = (await place(client, tenant.headers, ANSWERED_94S)).json()
        unrelated = (await place(client, tenant.headers, "+14155557777")).json()
        ids[tenant.org_id] = (contact.json()["id"], call["id"], unrelated["id"])
    await run_clock(app, clock, 110, step=5)
    contact_id, call_id, unrelated_id = ids[a.org_id]

    export = await request_export(client, a.headers, "contact", contact_id)

    files, text = await download(client, a.headers, export["id"])
    assert set(files) == {
        "billing_customers.json",
        "bookings.json",
        "call_actions.json",
        "call_recordings.json",
        "call_events.json",
        "calls.json",
        "campaign_recipients.json",
        "consultations.json",
        "contact.json",
        "conversation_notes.json",
        "conversations.json",
        "events.json",
        "job_applications.json",
        "job_interviews.json",
        "leads.json",
        "manifest.json",
        "messages.json",
        "messaging_opt_outs.json",
        "privacy_requests.json",
        "support_ticket_messages.json",
        "support_tickets.json",
        "transcripts.json",
        "video_participants.json",
        "video_rooms.json",
        "webinar_registrations.json",
    }
    assert [c["notes"] for c in files["contact.json"]] == ["prefers mornings"]
    assert [c["id"] for c in files["calls.json"]] == [call_id]
    assert export["counts"]["calls"] == 1
    assert unrelated_id not in text
    for foreign in (b.org_id, *ids[b.org_id]):
        assert foreign not in text


# An email subject's files: what visitors leave by email alone (see
# tests/engagement/test_email_subject_privacy.py for one with a record in each).
EMAIL_FILES = {
    "bookings.json",
    "consultations.json",
    "job_applications.json",
    "job_interviews.json",
    "leads.json",
    "manifest.json",
    "privacy_requests.json",
    "suggestions.json",
    "support_ticket_messages.json",
    "support_tickets.json",
    "webinar_registrations.json",
}


async def test_an_email_export_lists_every_file_a_visitor_can_have_and_is_audited_by_digest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app)

    export = await request_export(client, a.headers, "email", "Nobody@Example.com")

    files, _ = await download(client, a.headers, export["id"])
    assert set(files) == EMAIL_FILES
    assert set(export["counts"].values()) == {0}
    assert files["manifest.json"]["subject_id"] == "nobody@example.com"
    audit = await client.get(
        "/v1/audit-log", params={"action": "privacy.export_created"}, headers=a.headers
    )
    [entry] = audit.json()["data"]
    assert (entry["target_type"], entry["target_id"]) == ("email", export["subject_id"])
    assert "nobody" not in str(entry).lower()


async def test_an_export_is_audited_and_expires(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app)
    contact = await client.post("/v1/contacts", json={"name": "Eve"}, headers=a.headers)
    export = await request_export(client, a.headers, "contact", contact.json()["id"])

    audit = await client.get(
        "/v1/audit-log", params={"action": "privacy.export_created"}, headers=a.headers
    )
    [entry] = audit.json()["data"]
    assert (entry["target_type"], entry["target_id"]) == ("contact", contact.json()["id"])
    assert entry["details"]["request_id"] == export["id"]
    shown = await client.get(f"/v1/privacy/exports/{export['id']}", headers=a.headers)
    assert shown.json() == export

    clock.advance(8 * 86_400)  # past the 7-day download period
    gone = await client.get(f"/v1/privacy/exports/{export['id']}/download", headers=a.headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    shown = await client.get(f"/v1/privacy/exports/{export['id']}", headers=a.headers)
    assert shown.json()["download_url"] is None


async def test_an_erasure_clears_earlier_exports_of_the_subject(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app)
    contact = await client.post("/v1/contacts", json={"name": "Eve"}, headers=a.headers)
    export = await request_export(client, a.headers, "contact", contact.json()["id"])

    erasure = await request_erasure(client, a.headers, "contact", contact.json()["id"])

    assert erasure["counts"]["privacy_requests"] == 1
    gone = await client.get(f"/v1/privacy/exports/{export['id']}/download", headers=a.headers)
    assert gone.status_code == 404
