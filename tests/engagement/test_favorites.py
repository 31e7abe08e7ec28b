"""Favorites (seed 002 ``favorites.js``): each user's own, one per type and item,
with folders, a check, atomic use counts, and removal by id or by item."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.engagement.records_factories import created, events_of, ok, problem
from tests.identity.factories import add_member, auth, login, make_tenant


async def test_favorites_are_the_users_own_unique_counted_and_foldered(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    chat = await created(
        client,
        "/v1/favorites",
        h,
        {
            "type": "agent",
            "item_id": "neural-chat",
            "title": "Neural Chat",
            "metadata": {"icon": "chat"},
            "folder": "Daily",
        },
    )
    assert (chat["user_id"], chat["usage_count"], chat["metadata"]) == (
        tenant.owner_id,
        0,
        {"icon": "chat"},
    )
    duplicate = problem(
        await client.post(
            "/v1/favorites", json={"type": "agent", "item_id": "neural-chat"}, headers=h
        ),
        409,
        "already-exists",
    )
    assert duplicate["favorite_id"] == chat["id"]
    # The same item id of another type is another favorite.
    tool = await created(
        client, "/v1/favorites", h, {"type": "tool", "item_id": "neural-chat", "folder": "Daily"}
    )
    prompt = await created(
        client, "/v1/favorites", h, {"type": "prompt", "item_id": "p-1", "folder": "Work"}
    )

    checked = await ok(client.get("/v1/favorites/check?type=agent&item_id=neural-chat", headers=h))
    assert checked["favorited"] is True
    assert checked["favorite"]["id"] == chat["id"]
    missing = await ok(client.get("/v1/favorites/check?type=agent&item_id=other", headers=h))
    assert missing == {"favorited": False, "favorite": None}

    uses = await asyncio.gather(
        *[client.post(f"/v1/favorites/{chat['id']}/use", headers=h) for _ in range(5)]
    )
    assert all(r.status_code == 200 for r in uses)
    used = await ok(client.get(f"/v1/favorites/{chat['id']}", headers=h))
    assert used["usage_count"] == 5
    assert used["last_used_at"] is not None

    folders = await ok(client.get("/v1/favorites/folders", headers=h))
    assert folders["data"] == [
        {"folder": "Daily", "favorites": 2},
        {"folder": "Work", "favorites": 1},
    ]
    moved = await ok(
        client.patch(
            f"/v1/favorites/{prompt['id']}", json={"folder": None, "title": "Mine"}, headers=h
        )
    )
    assert (moved["folder"], moved["title"]) == (None, "Mine")
    in_daily = await ok(client.get("/v1/favorites?folder=Daily", headers=h))
    assert {f["id"] for f in in_daily["data"]} == {chat["id"], tool["id"]}
    agents = await ok(client.get("/v1/favorites?type=agent", headers=h))
    assert [f["id"] for f in agents["data"]] == [chat["id"]]

    # Another member of the organization has favorites of their own, and cannot see these.
    _, email = await add_member(app, tenant, role=Role.AGENT)
    member = auth(await login(client, email))
    assert (await ok(client.get("/v1/favorites", headers=member)))["data"] == []
    problem(await client.get(f"/v1/favorites/{chat['id']}", headers=member), 404, "not-found")
    await created(client, "/v1/favorites", member, {"type": "agent", "item_id": "neural-chat"})

    gone = await client.delete("/v1/favorites/items/tool/neural-chat", headers=h)
    assert gone.status_code == 204
    assert (await client.delete(f"/v1/favorites/{prompt['id']}", headers=h)).status_code == 204
    problem(
        await client.delete("/v1/favorites/items/tool/neural-chat", headers=h), 404, "not-found"
    )
    left = await ok(client.get("/v1/favorites", headers=h))
    assert [f["id"] for f in left["data"]] == [chat["id"]]
    kinds = [kind for kind, _ in await events_of(app, tenant, "favorite.")]
    assert kinds == [
        "favorite.added",
        "favorite.added",
        "favorite.added",
        "favorite.updated",
        "favorite.added",
        "favorite.removed",
        "favorite.removed",
    ]


async def test_bad_favorite_input_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    for body in (
        {"type": "song", "item_id": "x"},
        {"type": "agent", "item_id": ""},
        {"type": "agent", "item_id": "x" * 201},
        {"type": "agent", "item_id": "x", "metadata": []},
        {"type": "agent"},
    ):
        problem(await client.post("/v1/favorites", json=body, headers=h), 422, "validation-failed")
    problem(await client.get("/v1/favorites/check?type=agent", headers=h), 422, "validation-failed")
    problem(await client.get("/v1/favorites?type=nope", headers=h), 422, "validation-failed")
    # Favorites belong to users: a guest agent session reads none.
    agent = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=h
    )
    guest = auth(agent.json()["session_token"])
    refused = await client.get("/v1/favorites", headers=guest)
    assert refused.status_code == 403, refused.text
    assert (await ok(client.get("/v1/favorites", headers=h)))["data"] == []
