"""Comments on calls and support tickets (seed 000 ``/api/comments``): members write,
list a page at a time, edit their own, delete their own (owners and admins any);
another organization's call or ticket is not found; GDPR export and erasure."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.engagement.comments.models import Comment
from commbase.identity.roles import Role
from tests.calls.factories import ANSWERED_94S, fund_wallet, place
from tests.engagement.records_factories import created, events_of, ok, problem
from tests.identity.factories import add_member, auth, login, make_tenant
from tests.privacy.factories import download, request_erasure, request_export


async def _call(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    await fund_wallet(client, headers, amount=1000)
    placed = await place(client, headers, ANSWERED_94S)
    assert placed.status_code == 201, placed.text
    return str(placed.json()["id"])


async def _ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    ticket = await created(
        client, "/v1/support/tickets", headers, {"subject": "Invoice", "description": "wrong"}
    )
    return str(ticket["id"])


async def test_members_comment_on_calls_and_tickets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    h = tenant.headers
    call_id, ticket_id = await _call(client, h), await _ticket(client, h)
    _, agent_email = await add_member(app, tenant, role=Role.AGENT)
    agent = auth(await login(client, agent_email))

    first = await created(client, f"/v1/calls/{call_id}/comments", h, {"body": " Great call "})
    assert (first["body"], first["call_id"], first["ticket_id"], first["author_id"]) == (
        "Great call",
        call_id,
        None,
        tenant.owner_id,
    )
    assert first["edited_at"] is None
    second = await created(client, f"/v1/calls/{call_id}/comments", agent, {"body": "Agreed"})
    on_ticket = await created(
        client, f"/v1/support/tickets/{ticket_id}/comments", agent, {"body": "Looking"}
    )
    assert on_ticket["ticket_id"] == ticket_id

    page = await ok(client.get(f"/v1/calls/{call_id}/comments?limit=1", headers=h))
    assert [c["id"] for c in page["data"]] == [second["id"]]  # newest first
    rest = await ok(
        client.get(f"/v1/calls/{call_id}/comments?cursor={page['next_cursor']}", headers=h)
    )
    assert [c["id"] for c in rest["data"]] == [first["id"]]
    assert rest["next_cursor"] is None
    tickets = await ok(client.get(f"/v1/support/tickets/{ticket_id}/comments", headers=h))
    assert [c["body"] for c in tickets["data"]] == ["Looking"]

    # Edit own only; the owner cannot edit the agent's words but can delete them.
    path = f"/v1/comments/{second['id']}"
    problem(
        await client.patch(path, json={"body": "Not mine"}, headers=h), 403, "permission-denied"
    )
    edited = await ok(client.patch(path, json={"body": "Agreed, mostly"}, headers=agent))
    assert edited["body"] == "Agreed, mostly"
    assert edited["edited_at"] is not None
    assert (await ok(client.get(path, headers=h)))["body"] == "Agreed, mostly"
    own = f"/v1/comments/{first['id']}"
    problem(await client.delete(own, headers=agent), 403, "permission-denied")
    assert (await client.delete(path, headers=h)).status_code == 204
    assert (await client.delete(own, headers=h)).status_code == 204
    assert (await client.get(own, headers=h)).status_code == 404
    left = await ok(client.get(f"/v1/calls/{call_id}/comments", headers=h))
    assert left["data"] == []

    assert [t for t, _ in await events_of(app, tenant, "comment.")] == [
        "comment.created",
        "comment.created",
        "comment.created",
        "comment.updated",
        "comment.deleted",
        "comment.deleted",
    ]

    # Another organization's call, ticket and comment are not found.
    for target in (f"/v1/calls/{call_id}/comments", f"/v1/support/tickets/{ticket_id}/comments"):
        assert (await client.get(target, headers=other.headers)).status_code == 404
        hidden = await client.post(target, json={"body": "hi"}, headers=other.headers)
        assert hidden.status_code == 404, hidden.text
    theirs = f"/v1/comments/{on_ticket['id']}"
    assert (
        await client.patch(theirs, json={"body": "x"}, headers=other.headers)
    ).status_code == 404
    assert (await client.delete(theirs, headers=other.headers)).status_code == 404
    assert (await client.get("/v1/calls/call_nope/comments", headers=h)).status_code == 404

    # Bad input.
    for body in ({}, {"body": ""}, {"body": "   "}, {"body": "x" * 5001}, {"body": 5}):
        refused = await client.post(f"/v1/calls/{call_id}/comments", json=body, headers=h)
        assert refused.status_code == 422, (body, refused.text)
    async with app.state.db.sessionmaker() as session:
        stored = await session.scalar(
            select(func.count()).select_from(Comment).where(Comment.org_id == tenant.org_id)
        )
    assert stored == 1


async def test_a_members_comments_are_exported_and_erased(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    ticket_id = await _ticket(client, tenant.headers)
    me, email = await add_member(app, tenant, role=Role.AGENT)
    mine = auth(await login(client, email))
    target = f"/v1/support/tickets/{ticket_id}/comments"
    await created(client, target, mine, {"body": "my words"})
    await created(client, target, tenant.headers, {"body": "the owner's"})

    export = await request_export(client, tenant.headers, "user", me)
    files, _ = await download(client, tenant.headers, export["id"])
    assert [c["body"] for c in files["comments.json"]] == ["my words"]

    erasure = await request_erasure(client, tenant.headers, "user", me)
    assert erasure["status"] == "completed", erasure
    left = await ok(client.get(target, headers=tenant.headers))
    assert [c["body"] for c in left["data"]] == ["the owner's"]


async def test_replies_thread_under_a_first_comment_and_mentions_notify_members(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    h = tenant.headers
    ticket_id, call_id = await _ticket(client, h), await _call(client, h)
    agent_id, agent_email = await add_member(app, tenant, role=Role.AGENT)
    agent = auth(await login(client, agent_email))
    outsider_id, _ = await add_member(app, other, role=Role.AGENT)
    target = f"/v1/support/tickets/{ticket_id}/comments"

    first = await created(
        client, target, h, {"body": "Can you look?", "mentions": [agent_id, agent_id]}
    )
    assert first["mentions"] == [agent_id]  # once each
    assert first["parent_id"] is None
    reply = await created(
        client,
        target,
        agent,
        {"body": "On it", "parent_id": first["id"], "mentions": [tenant.owner_id]},
    )
    assert reply["parent_id"] == first["id"]
    another = await created(client, target, h, {"body": "Thanks", "parent_id": first["id"]})

    replies = await ok(client.get(f"{target}?parent_id={first['id']}", headers=h))
    assert [c["id"] for c in replies["data"]] == [another["id"], reply["id"]]
    tops = await ok(client.get(f"{target}?top_level=true", headers=h))
    assert [c["id"] for c in tops["data"]] == [first["id"]]
    only_replies = await ok(client.get(f"{target}?top_level=false", headers=h))
    assert len(only_replies["data"]) == 2

    # A reply to a reply, a parent on another ticket or call, another org's or an
    # unknown comment: 422, and nothing is stored.
    call_comment = await created(client, f"/v1/calls/{call_id}/comments", h, {"body": "call"})
    for parent in (reply["id"], call_comment["id"], "cmt_nope"):
        refused = await client.post(target, json={"body": "x", "parent_id": parent}, headers=h)
        problem(refused, 422, "validation-failed")
    # Mentions must be members of this organization.
    for mentions in ([outsider_id], ["usr_nope"], [agent_id, outsider_id]):
        refused = await client.post(target, json={"body": "x", "mentions": mentions}, headers=h)
        body = problem(refused, 422, "validation-failed")
        assert body["errors"][0]["field"] == "mentions"
    assert (
        await client.post(target, json={"body": "x", "mentions": ["u"] * 21}, headers=h)
    ).status_code == 422

    # An edit that adds a mention announces only the new member; the author is never
    # notified of mentioning themselves.
    edited = await ok(
        client.patch(
            f"/v1/comments/{first['id']}",
            json={"body": "Can you both look?", "mentions": [agent_id, tenant.owner_id]},
            headers=h,
        )
    )
    assert edited["mentions"] == [agent_id, tenant.owner_id]
    mentioned = [
        (p["id"], p["mentioned_user_id"]) for _, p in await events_of(app, tenant, "comment.ment")
    ]
    assert mentioned == [(first["id"], agent_id), (reply["id"], tenant.owner_id)]

    # Deleting the first comment deletes its thread, each announced.
    assert (await client.delete(f"/v1/comments/{first['id']}", headers=h)).status_code == 204
    left = await ok(client.get(target, headers=h))
    assert left["data"] == []
    deleted = [p["id"] for t, p in await events_of(app, tenant, "comment.deleted")]
    assert sorted(deleted) == sorted([first["id"], reply["id"], another["id"]])


async def test_erasing_an_author_keeps_replies_and_drops_their_mentions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    ticket_id = await _ticket(client, h)
    me, email = await add_member(app, tenant, role=Role.AGENT)
    mine = auth(await login(client, email))
    target = f"/v1/support/tickets/{ticket_id}/comments"
    first = await created(client, target, mine, {"body": "mine"})
    reply = await created(
        client, target, h, {"body": "the owner's", "parent_id": first["id"], "mentions": [me]}
    )

    erasure = await request_erasure(client, h, "user", me)
    assert erasure["status"] == "completed", erasure
    kept = await ok(client.get(f"/v1/comments/{reply['id']}", headers=h))
    assert (kept["body"], kept["parent_id"], kept["mentions"]) == ("the owner's", None, [])
    assert (await client.get(f"/v1/comments/{first['id']}", headers=h)).status_code == 404
