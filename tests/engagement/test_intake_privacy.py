"""GDPR for what website visitors leave by email alone: a lead, a suggestion, a booking
and a ticket sent through a publishable key name no contact and no user; a request
about the user with that email exports them and erases (or anonymises) them, and the
visitor's access tokens stop opening them. Another address's records stay."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.engagement.records_factories import ok
from tests.engagement.test_intake import FORM as TICKET
from tests.engagement.test_intake import visitor
from tests.identity.factories import add_member, make_tenant
from tests.identity.test_publishable_keys import create_publishable_key
from tests.privacy.factories import download, request_erasure, request_export

SCOPES = ["intake:bookings", "intake:leads", "intake:suggestions", "intake:support"]


async def _leave(client: httpx.AsyncClient, key: str, email: str, at: str) -> dict[str, Any]:
    """A lead, a suggestion, a booking and a ticket sent with ``email``: each receipt."""
    forms = {
        "leads": ("/v1/intake/leads", {"name": "Vera Visitor", "email": email, "message": "hi"}),
        "suggestions": (
            "/v1/intake/suggestions",
            {"title": "Dark mode", "description": f"please, {email}", "email": email},
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
        "support_tickets": (
            "/v1/intake/support/tickets",
            {**TICKET, "requester_email": email},
        ),
    }
    receipts = {}
    for name, (path, body) in forms.items():
        answer = await client.post(path, json=body, headers=visitor(key))
        assert answer.status_code == 201, (path, answer.text)
        receipts[name] = answer.json()
    return receipts


async def test_a_visitors_records_are_found_by_the_users_email(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    key = (await create_publishable_key(client, tenant.api_key, scopes=SCOPES))["key"]
    hers = await _leave(client, key, "Vera@Visitor.example", "2031-03-02T10:00:00Z")
    others = await _leave(client, key, "otto@visitor.example", "2031-03-02T12:00:00Z")
    vera, _ = await add_member(app, tenant, role=Role.VIEWER, email="vera@visitor.example")

    export = await request_export(client, h, "user", vera)
    files, _ = await download(client, h, export["id"])
    for name, receipt in hers.items():
        assert [r["id"] for r in files[f"{name}.json"]] == [receipt["id"]], name
    assert files["suggestions.json"][0]["author_email"] == "vera@visitor.example"

    erasure = await request_erasure(client, h, "user", vera)
    assert erasure["status"] == "completed", erasure
    for name in ("leads", "suggestions", "bookings", "support_tickets"):
        assert erasure["counts"][name] >= 1, (name, erasure["counts"])

    lead = await ok(client.get(f"/v1/leads/{hers['leads']['id']}", headers=h))
    assert (lead["name"], lead["email"], lead["notes"]) == (None, None, None)
    suggestion = await ok(client.get(f"/v1/suggestions/{hers['suggestions']['id']}", headers=h))
    assert "vera" not in str(suggestion).lower()
    booking = await ok(client.get(f"/v1/bookings/{hers['bookings']['id']}", headers=h))
    assert (booking["client_name"], booking["client_email"]) == (None, None)
    assert booking["status"] == "pending"  # the schedule stands
    gone = await client.get(f"/v1/support/tickets/{hers['support_tickets']['id']}", headers=h)
    assert gone.status_code == 404
    # Her access tokens open nothing now; Otto's still open his records.
    for path, name in (
        ("/v1/intake/suggestion", "suggestions"),
        ("/v1/intake/booking", "bookings"),
        ("/v1/intake/support/ticket", "support_tickets"),
    ):
        mine = await client.get(path, headers=visitor(key, hers[name]["access_token"]))
        assert mine.status_code == 404, (path, mine.text)
        his = await client.get(path, headers=visitor(key, others[name]["access_token"]))
        assert his.status_code == 200, (path, his.text)
    otto = await ok(client.get(f"/v1/leads/{others['leads']['id']}", headers=h))
    assert otto["email"] == "otto@visitor.example"
