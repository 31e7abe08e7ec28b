"""Agent personalizations (seed 002 ``agentpersonalizations``): one per user and agent,
display and behaviour settings, custom instructions, saved prompts."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.engagement.records_factories import events_of, ok, problem
from tests.identity.factories import add_member, auth, login, make_tenant


async def test_a_user_personalises_an_agent_and_keeps_saved_prompts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    first = await ok(
        client.put(
            "/v1/personalizations",
            json={
                "agent_id": "neural-chat",
                "display": {"name": "Nova", "theme": "dark"},
                "behavior": {"tone": "friendly"},
                "custom_instructions": "Answer in Czech.",
            },
            headers=h,
        )
    )
    assert (first["user_id"], first["agent_id"], first["saved_prompts"]) == (
        tenant.owner_id,
        "neural-chat",
        [],
    )
    # Setting it again changes the same record; fields left out are kept.
    again = await ok(
        client.put(
            "/v1/personalizations",
            json={"agent_id": "neural-chat", "behavior": {"tone": "formal"}},
            headers=h,
        )
    )
    assert again["id"] == first["id"]
    assert (again["display"], again["behavior"], again["custom_instructions"]) == (
        {"name": "Nova", "theme": "dark"},
        {"tone": "formal"},
        "Answer in Czech.",
    )
    url = f"/v1/personalizations/{first['id']}"
    saved = await ok(
        client.post(f"{url}/prompts", json={"title": "Summary", "prompt": "Summarise"}, headers=h),
        201,
    )
    await ok(
        client.post(f"{url}/prompts", json={"title": "Translate", "prompt": "To EN"}, headers=h),
        201,
    )
    prompts = (await ok(client.get(url, headers=h)))["saved_prompts"]
    assert [p["title"] for p in prompts] == ["Summary", "Translate"]
    kept = await ok(client.delete(f"{url}/prompts/{saved['saved_prompts'][0]['id']}", headers=h))
    assert [p["title"] for p in kept["saved_prompts"]] == ["Translate"]
    problem(await client.delete(f"{url}/prompts/spr_missing", headers=h), 404, "not-found")

    other_agent = await ok(
        client.put("/v1/personalizations", json={"agent_id": "voice-bot"}, headers=h)
    )
    listed = await ok(client.get("/v1/personalizations", headers=h))
    assert {p["id"] for p in listed["data"]} == {first["id"], other_agent["id"]}
    only = await ok(client.get("/v1/personalizations?agent_id=voice-bot", headers=h))
    assert [p["id"] for p in only["data"]] == [other_agent["id"]]

    # Another member's personalizations are their own.
    _, email = await add_member(app, tenant, role=Role.AGENT)
    member = auth(await login(client, email))
    assert (await ok(client.get("/v1/personalizations", headers=member)))["data"] == []
    problem(await client.get(url, headers=member), 404, "not-found")

    assert (await client.delete(url, headers=h)).status_code == 204
    problem(await client.get(url, headers=h), 404, "not-found")
    kinds = [kind for kind, _ in await events_of(app, tenant, "personalization.")]
    assert kinds == [*["personalization.saved"] * 6, "personalization.deleted"]


async def test_bad_personalization_input_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    bodies: list[dict[str, object]] = [
        {"display": {}},
        {"agent_id": ""},
        {"agent_id": "a", "display": []},
        {"agent_id": "a", "custom_instructions": "x" * 20_001},
    ]
    for body in bodies:
        problem(
            await client.put("/v1/personalizations", json=body, headers=h), 422, "validation-failed"
        )
    item = await ok(client.put("/v1/personalizations", json={"agent_id": "a"}, headers=h))
    problem(
        await client.post(
            f"/v1/personalizations/{item['id']}/prompts", json={"title": "t"}, headers=h
        ),
        422,
        "validation-failed",
    )
    assert (await ok(client.get(f"/v1/personalizations/{item['id']}", headers=h))) == item
