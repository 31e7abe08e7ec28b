"""GDPR requests about an email address: a website visitor who is neither a user nor a
contact is found by the address they typed. Every record they left by email alone (a
lead, a suggestion, a booking, a ticket, a consultation, a job application and a webinar
registration) is exported and erased or anonymised; records linked to a contact, another
address's and another organization's records with the same address stay."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.engagement.records_factories import PROBLEM, created, ok
from tests.engagement.test_intake import FORM as TICKET
from tests.engagement.test_intake import visitor
from tests.identity.factories import Tenant, make_tenant
from tests.identity.test_publishable_keys import create_publishable_key
from tests.privacy.factories import download, request_erasure, request_export

SCOPES = [
    "intake:bookings",
    "intake:careers",
    "intake:consultations",
    "intake:leads",
    "intake:suggestions",
    "intake:support",
    "intake:webinars",
]
VERA = "Vera@Visitor.example"
# What a visitor's erasure changes, per table: deleted or anonymised.
ERASED = {
    "bookings": 1,
    "consultations": 1,
    "job_applications": 1,
    "job_interviews": 0,
    "leads": 1,
    "suggestions": 1,
    "support_ticket_messages": 0,
    "support_tickets": 1,
    "webinar_registrations": 1,
}


async def _leave(
    client: httpx.AsyncClient, tenant: Tenant, email: str, at: str
) -> dict[str, dict[str, Any]]:
    """One record of every kind a visitor sends with ``email``: each receipt, by file name."""
    key = (await create_publishable_key(client, tenant.api_key, scopes=SCOPES))["key"]
    job = await created(client, "/v1/careers/positions", tenant.headers, {"title": "Engineer"})
    webinar = await created(
        client,
        "/v1/webinars",
        tenant.headers,
        {"title": "AI receptionists 101", "starts_at": "2031-04-01T15:00:00Z", "capacity": 5},
    )
    forms = {
        "leads": ("/v1/intake/leads", {"name": "Vera Visitor", "email": email, "message": "hi"}),
        "suggestions": (
            "/v1/intake/suggestions",
            {"title": "Dark mode", "description": "please", "email": email},
        ),
        "bookings": (
            "/v1/intake/bookings",
            {
                "service": "Haircut",
                "starts_at": at,
                "resource": "Chair 1",
                "client_name": "Vera Visitor",
                "client_email": email,
            },
        ),
        "support_tickets": ("/v1/intake/support/tickets", {**TICKET, "requester_email": email}),
        "consultations": (
            "/v1/intake/support/consultations",
            {
                "type": "technical",
                "requester_name": "Vera Visitor",
                "requester_email": email,
                "project_description": "Migrate our IVR",
            },
        ),
        "job_applications": (
            "/v1/intake/careers/applications",
            {"position_id": job["id"], "first_name": "Vera", "last_name": "V", "email": email},
        ),
        "webinar_registrations": (
            "/v1/intake/webinars/registrations",
            {"webinar_id": webinar["id"], "email": email, "name": "Vera"},
        ),
    }
    receipts = {}
    for name, (path, body) in forms.items():
        receipts[name] = await created(client, path, visitor(key), body)
    receipts["key"] = {"key": key}
    return receipts


async def test_an_email_request_exports_and_erases_what_the_visitor_left(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    hers = await _leave(client, a, VERA, "2031-03-02T10:00:00Z")
    others = await _leave(client, a, "otto@visitor.example", "2031-03-02T12:00:00Z")
    bravo = await _leave(client, b, VERA, "2031-03-02T10:00:00Z")
    contact = await created(client, "/v1/contacts", a.headers, {"name": "Vera Customer"})
    linked = await created(
        client, "/v1/leads", a.headers, {"contact_id": contact["id"], "email": VERA}
    )

    export = await request_export(client, a.headers, "email", "  VERA@visitor.EXAMPLE ")

    assert export["subject_type"] == "email"
    assert export["subject_id"].startswith("eml_")
    assert "vera" not in str(export).lower()  # the request's record keeps no address
    files, text = await download(client, a.headers, export["id"])
    assert set(files) == {f"{name}.json" for name in ERASED} | {
        "manifest.json",
        "privacy_requests.json",
    }
    for name in ERASED:
        if name in hers:
            assert [r["id"] for r in files[f"{name}.json"]] == [hers[name]["id"]], name
    assert files["manifest.json"]["subject_id"] == "vera@visitor.example"
    for foreign in (b.org_id, linked["id"], others["leads"]["id"], bravo["leads"]["id"]):
        assert foreign not in text

    erasure = await request_erasure(client, a.headers, "email", "vera@visitor.example")

    assert erasure["subject_id"] == export["subject_id"]
    assert {k: v for k, v in erasure["counts"].items() if k != "privacy_requests"} == ERASED
    assert erasure["counts"]["privacy_requests"] == 1  # the earlier export's zip is cleared
    gone = await client.get(f"/v1/privacy/exports/{export['id']}/download", headers=a.headers)
    assert gone.status_code == 404
    lead = await ok(client.get(f"/v1/leads/{hers['leads']['id']}", headers=a.headers))
    assert (lead["name"], lead["email"]) == (None, None)
    booking = await ok(client.get(f"/v1/bookings/{hers['bookings']['id']}", headers=a.headers))
    assert (booking["client_name"], booking["client_email"]) == (None, None)
    suggestion = await ok(
        client.get(f"/v1/suggestions/{hers['suggestions']['id']}", headers=a.headers)
    )
    assert "vera" not in str(suggestion).lower()
    for path, name in (
        ("/v1/support/tickets", "support_tickets"),
        ("/v1/careers/applications", "job_applications"),
        ("/v1/support/consultations", "consultations"),
    ):
        deleted = await client.get(f"{path}/{hers[name]['id']}", headers=a.headers)
        assert deleted.status_code == 404, (path, deleted.text)
    # Her access tokens open nothing now.
    key = hers["key"]["key"]
    for path, name in (
        ("/v1/intake/support/ticket", "support_tickets"),
        ("/v1/intake/careers/application", "job_applications"),
        ("/v1/intake/webinars/registration", "webinar_registrations"),
    ):
        mine = await client.get(path, headers=visitor(key, hers[name]["access_token"]))
        assert mine.status_code == 404, (path, mine.text)
    # Otto's records, the contact's lead and Bravo's records of the same address stay.
    again = await request_export(client, a.headers, "email", "otto@visitor.example")
    otto, _ = await download(client, a.headers, again["id"])
    assert {n: len(otto[f"{n}.json"]) for n in ERASED} == ERASED
    kept = await ok(client.get(f"/v1/leads/{linked['id']}", headers=a.headers))
    assert (kept["contact_id"], kept["email"].lower()) == (contact["id"], VERA.lower())
    elsewhere = await request_export(client, b.headers, "email", VERA)
    theirs, _ = await download(client, b.headers, elsewhere["id"])
    for name in ERASED:
        if name in bravo:
            assert [r["id"] for r in theirs[f"{name}.json"]] == [bravo[name]["id"]], name


async def test_a_bad_email_is_a_problem_that_does_not_repeat_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app)
    for subject_id in ("not-an-email", "secret@", "@nowhere.example", "x" * 300 + "@a.example"):
        for path in ("/v1/privacy/exports", "/v1/privacy/erasures"):
            answer = await client.post(
                path, json={"subject_type": "email", "subject_id": subject_id}, headers=a.headers
            )
            assert answer.status_code == 422, (subject_id, answer.text)
            assert answer.headers["content-type"].startswith(PROBLEM)
            assert answer.json()["errors"]
            assert subject_id not in answer.text
            assert "secret" not in answer.text
            assert "nowhere" not in answer.text
