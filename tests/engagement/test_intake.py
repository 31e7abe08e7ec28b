"""Public intake through a publishable key (support tickets as the record): allowed
origins only, per-IP limits, a honeypot, and an access token that opens one record."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import client_for
from tests.identity.factories import Tenant, auth, make_tenant, run_operator_job
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key

FORM = {
    "subject": "Cannot log in",
    "description": "The reset link says expired.",
    "category": "account",
    "requester_name": "Vera Visitor",
    "requester_email": "Vera@Visitor.example",
}


def visitor(key: str, token: str | None = None, origin: str = ORIGIN) -> dict[str, str]:
    headers = {**auth(key), "Origin": origin}
    if token is not None:
        headers["X-Access-Token"] = token
    return headers


async def submit(client: httpx.AsyncClient, key: str, **overrides: Any) -> httpx.Response:
    return await client.post(
        "/v1/intake/support/tickets", json={**FORM, **overrides}, headers=visitor(key)
    )


async def staff_tickets(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = await client.get("/v1/support/tickets", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_a_visitor_opens_follows_and_closes_only_their_own_ticket(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key))["key"]

    first = await submit(client, key)
    assert first.status_code == 201, first.text
    receipt = first.json()
    assert receipt["object"] == "support_ticket"
    assert receipt["status"] == "open"
    token = receipt["access_token"]
    assert token.startswith("cb_acc_")
    assert first.headers["Cache-Control"] == "no-store"
    second = (await submit(client, key, subject="Another one")).json()

    mine = await client.get("/v1/intake/support/ticket", headers=visitor(key, token))
    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == receipt["id"]
    assert mine.json()["subject"] == "Cannot log in"
    assert mine.json()["requester_email"] == "vera@visitor.example"
    assert "assignee_id" not in mine.json()
    theirs = await client.get(
        "/v1/intake/support/ticket", headers=visitor(key, second["access_token"])
    )
    assert theirs.json()["id"] == second["id"]

    # Staff reply and add an internal note; the visitor sees only the reply.
    ticket_id = receipt["id"]
    for body in ({"body": "Try this link."}, {"body": "VIP, handle gently", "internal": True}):
        staff = await client.post(
            f"/v1/support/tickets/{ticket_id}/messages", json=body, headers=tenant.headers
        )
        assert staff.status_code == 201, staff.text
    reply = await client.post(
        "/v1/intake/support/ticket/messages",
        json={"body": "Worked, thanks"},
        headers=visitor(key, token),
    )
    assert reply.status_code == 201, reply.text
    thread = await client.get("/v1/intake/support/ticket/messages", headers=visitor(key, token))
    assert thread.status_code == 200
    assert [m["body"] for m in thread.json()["data"]] == ["Worked, thanks", "Try this link."]
    assert "VIP" not in thread.text
    full = await client.get(f"/v1/support/tickets/{ticket_id}/messages", headers=tenant.headers)
    assert len(full.json()["data"]) == 3

    early = await client.post(
        "/v1/intake/support/ticket/satisfaction", json={"rating": 5}, headers=visitor(key, token)
    )
    assert early.status_code == 409
    resolved = await client.post(
        f"/v1/support/tickets/{ticket_id}/resolve",
        json={"resolution": "Sent a new link"},
        headers=tenant.headers,
    )
    assert resolved.status_code == 200, resolved.text
    rated = await client.post(
        "/v1/intake/support/ticket/satisfaction",
        json={"rating": 4, "comment": "quick"},
        headers=visitor(key, token),
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["satisfaction_rating"] == 4
    closed = await client.post("/v1/intake/support/ticket/close", headers=visitor(key, token))
    assert closed.json()["status"] == "closed"
    # The other visitor's ticket is untouched.
    other = await client.get(f"/v1/support/tickets/{second['id']}", headers=tenant.headers)
    assert other.json()["status"] == "open"

    # Tokens open nothing else: no token, a made-up one, or as a bearer credential.
    for headers in (visitor(key), visitor(key, "cb_acc_nope"), visitor(key, key)):
        refused = await client.get("/v1/intake/support/ticket", headers=headers)
        assert refused.status_code in (401, 404), refused.text
    for path in ("/v1/support/tickets", f"/v1/support/tickets/{ticket_id}", "/v1/me"):
        as_bearer = await client.get(path, headers={**auth(token), "Origin": ORIGIN})
        assert as_bearer.status_code == 401, path
        with_key = await client.get(path, headers=visitor(key, token))
        assert with_key.status_code == 401, path


async def test_origin_is_checked_on_every_request(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key))["key"]
    token = (await submit(client, key)).json()["access_token"]
    for origin in ("https://evil.example", "http://shop.example", "null", ""):
        for method, path, headers in (
            ("POST", "/v1/intake/support/tickets", visitor(key, origin=origin)),
            ("GET", "/v1/intake/support/ticket", visitor(key, token, origin=origin)),
        ):
            if not origin:
                headers.pop("Origin")
            response = await client.request(method, path, json=FORM, headers=headers)
            assert response.status_code == 403, (origin, path, response.text)
            assert response.json()["type"] == "/problems/origin-not-allowed"
    assert len(await staff_tickets(client, tenant)) == 1
    # The same origin spelled with its default port is the same origin.
    same = await client.post(
        "/v1/intake/support/tickets",
        json=FORM,
        headers=visitor(key, origin="https://SHOP.example:443"),
    )
    assert same.status_code == 201, same.text


async def test_each_visitor_ip_is_limited(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key, rate_limit_per_minute=3))["key"]
    answers = [await submit(client, key) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].headers["RateLimit-Policy"] == '"intake";q=3;w=60'
    # A request from a refused origin still counts against the IP.
    wrong = await client.post(
        "/v1/intake/support/tickets", json=FORM, headers=visitor(key, origin="https://x.example")
    )
    assert wrong.status_code == 403
    limited = await submit(client, key)
    assert limited.status_code == 429, limited.text
    assert limited.json()["type"] == "/problems/rate-limited"
    assert limited.headers["RateLimit"].startswith('"intake";r=0;')
    assert int(limited.headers["Retry-After"]) >= 1
    async with client_for(app, ip="198.51.100.7") as elsewhere:
        other_ip = await elsewhere.post(
            "/v1/intake/support/tickets", json=FORM, headers=visitor(key)
        )
        assert other_ip.status_code == 201, other_ip.text
    assert len(await staff_tickets(client, tenant)) == 3


async def test_a_filled_honeypot_looks_accepted_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key))["key"]
    bot = await submit(client, key, website="https://spam.example")
    assert bot.status_code == 201, bot.text
    assert bot.json()["id"].startswith("tkt_")
    assert bot.json()["access_token"].startswith("cb_acc_")
    assert bot.headers["Cache-Control"] == "no-store"
    assert await staff_tickets(client, tenant) == []
    ghost = await client.get(
        "/v1/intake/support/ticket", headers=visitor(key, bot.json()["access_token"])
    )
    assert ghost.status_code == 404


async def test_keys_are_scoped_revocable_and_bound_to_their_organization(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    careers_only = (
        await create_publishable_key(client, tenant.api_key, scopes=["intake:careers"])
    )["key"]
    refused = await submit(client, careers_only)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/scope-missing"

    key = await create_publishable_key(client, tenant.api_key)
    other_key = (await create_publishable_key(client, other.api_key))["key"]
    token = (await submit(client, key["key"])).json()["access_token"]
    # Another organization's key with this organization's token: unknown.
    crossed = await client.get("/v1/intake/support/ticket", headers=visitor(other_key, token))
    assert crossed.status_code == 404

    await client.post(f"/v1/publishable-keys/{key['id']}/revoke", headers=tenant.headers)
    gone = await client.get("/v1/intake/support/ticket", headers=visitor(key["key"], token))
    assert gone.status_code == 401
    assert (await submit(client, key["key"])).status_code == 401
    assert (await client.post("/v1/intake/support/tickets", json=FORM)).status_code == 401


async def test_bad_visitor_input_is_a_problem_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key))["key"]
    token = (await submit(client, key)).json()["access_token"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"requester_email": "not-an-email"}, "requester_email"),
        ({"requester_name": ""}, "requester_name"),
        ({"subject": "s" * 201}, "subject"),
        ({"description": "a\x00b"}, "description"),
        ({"category": "gossip"}, "category"),
        ({"website": "w" * 501}, "website"),
        ({"status": "closed"}, "status"),
        ({"assignee_id": tenant.owner_id}, "assignee_id"),
    ]
    for overrides, field in cases:
        response = await submit(client, key, **overrides)
        assert response.status_code == 422, (overrides, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}, response.text
    for path, body in (
        ("/v1/intake/support/ticket/messages", {"body": ""}),
        ("/v1/intake/support/ticket/messages", {"body": "x", "internal": True}),
        ("/v1/intake/support/ticket/satisfaction", {"rating": 6}),
    ):
        response = await client.post(path, json=body, headers=visitor(key, token))
        assert response.status_code == 422, (path, response.text)
    long_token = await client.get(
        "/v1/intake/support/ticket", headers=visitor(key, "cb_acc_" + "x" * 200)
    )
    assert long_token.status_code == 422
    assert len(await staff_tickets(client, tenant)) == 1
    thread = await client.get("/v1/intake/support/ticket/messages", headers=visitor(key, token))
    assert thread.json()["data"] == []


async def test_a_receipt_is_never_stored_for_an_idempotency_key_replay(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key))["key"]
    headers = {**visitor(key), "Idempotency-Key": "form-submit-1"}
    first = await client.post("/v1/intake/support/tickets", json=FORM, headers=headers)
    assert first.status_code == 201, first.text
    replay = await client.post("/v1/intake/support/tickets", json=FORM, headers=headers)
    assert replay.status_code == 409, replay.text
    assert first.json()["access_token"] not in replay.text
    assert len(await staff_tickets(client, tenant)) == 1


async def test_a_keys_usage_is_counted_and_shown_on_the_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await app.state.usage.close()  # only the job writes here, not the periodic writer
    tenant = await make_tenant(app)
    created = await create_publishable_key(client, tenant.api_key)
    key, path = created["key"], f"/v1/publishable-keys/{created['id']}"
    assert (created["total_requests"], created["last_used_at"]) == (0, None)
    token = (await submit(client, key)).json()["access_token"]
    assert (await client.get("/v1/intake/support/ticket", headers=visitor(key, token))).is_success
    refused = await client.post(
        "/v1/intake/support/tickets", json=FORM, headers=visitor(key, origin="https://x.example")
    )
    assert refused.status_code == 403
    before = (await client.get(path, headers=tenant.headers)).json()
    assert before["total_requests"] == 0  # nothing written per request
    flushed = await run_operator_job(app, "identity.flush_usage")
    assert flushed.status == "succeeded"
    after = (await client.get(path, headers=tenant.headers)).json()
    assert after["total_requests"] == 3  # the refused origin was the key's request too
    assert after["first_used_at"] is not None
    assert after["last_used_at"] >= after["first_used_at"]
    listed = (await client.get("/v1/publishable-keys", headers=tenant.headers)).json()["data"]
    assert [k["total_requests"] for k in listed] == [3]
    assert after["created_at"] == before["created_at"]
