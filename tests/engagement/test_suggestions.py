"""Community suggestions (seed 002 ``suggestions.js``): ten categories, statuses,
one changeable vote per user, comments, listed by score."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.engagement.records_factories import created, events_of, metric_totals, ok, problem
from tests.identity.factories import add_member, auth, login, make_tenant
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key


async def test_suggestions_are_voted_once_per_user_commented_and_listed_by_score(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    voters = [h]
    for _ in range(3):
        _, email = await add_member(app, tenant, role=Role.AGENT)
        voters.append(auth(await login(client, email)))

    dark = await created(
        client,
        "/v1/suggestions",
        h,
        {"title": "Dark mode", "description": "Please", "category": "ui_ux"},
    )
    assert (dark["status"], dark["score"], dark["my_vote"], dark["author_user_id"]) == (
        "submitted",
        0,
        "none",
        tenant.owner_id,
    )
    api = await created(
        client,
        "/v1/suggestions",
        voters[1],
        {"title": "Zapier", "description": "Connect it", "category": "integration"},
    )
    slow = await created(
        client,
        "/v1/suggestions",
        h,
        {"title": "Faster", "description": "x", "category": "performance"},
    )

    async def cast(
        headers: dict[str, str], suggestion: dict[str, str], value: str
    ) -> httpx.Response:
        return await client.post(
            f"/v1/suggestions/{suggestion['id']}/vote", json={"value": value}, headers=headers
        )

    # Everyone votes up at once: every vote counts.
    answers = await asyncio.gather(*[cast(v, dark, "up") for v in voters])
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    # Voting again is not a second vote; changing it moves one vote.
    assert (await cast(h, dark, "up")).json()["upvotes"] == 4
    changed = (await cast(voters[1], dark, "down")).json()
    assert (changed["upvotes"], changed["downvotes"], changed["score"], changed["my_vote"]) == (
        3,
        1,
        2,
        "down",
    )
    withdrawn = (await cast(voters[1], dark, "none")).json()
    assert (withdrawn["score"], withdrawn["my_vote"]) == (3, "none")
    await cast(h, slow, "down")
    await cast(voters[2], api, "up")

    by_score = await ok(client.get("/v1/suggestions", headers=h))
    assert [s["id"] for s in by_score["data"]] == [dark["id"], api["id"], slow["id"]]
    assert [s["my_vote"] for s in by_score["data"]] == ["up", "none", "down"]
    first = await ok(client.get("/v1/suggestions?limit=1", headers=h))
    second = await ok(
        client.get(f"/v1/suggestions?limit=1&cursor={first['next_cursor']}", headers=h)
    )
    third = await ok(
        client.get(f"/v1/suggestions?limit=2&cursor={second['next_cursor']}", headers=h)
    )
    assert [s["id"] for s in first["data"] + second["data"] + third["data"]] == [
        dark["id"],
        api["id"],
        slow["id"],
    ]
    assert third["next_cursor"] is None
    newest = await ok(client.get("/v1/suggestions?sort=newest", headers=h))
    assert [s["id"] for s in newest["data"]] == [slow["id"], api["id"], dark["id"]]
    mine = await ok(
        client.get(f"/v1/suggestions?author_user_id={tenant.owner_id}&sort=newest", headers=h)
    )
    assert [s["id"] for s in mine["data"]] == [slow["id"], dark["id"]]

    comment = await created(
        client, f"/v1/suggestions/{dark['id']}/comments", voters[2], {"body": "+1 from me"}
    )
    assert comment["author_user_id"] is not None
    comments = await ok(client.get(f"/v1/suggestions/{dark['id']}/comments", headers=h))
    assert [c["body"] for c in comments["data"]] == ["+1 from me"]

    planned = await ok(
        client.patch(f"/v1/suggestions/{dark['id']}", json={"status": "planned"}, headers=h)
    )
    assert (planned["status"], planned["comment_count"], planned["my_vote"]) == ("planned", 1, "up")
    done = await ok(
        client.patch(
            f"/v1/suggestions/{dark['id']}",
            json={"status": "implemented", "implementation_notes": "Shipped in 2.0"},
            headers=h,
        )
    )
    assert done["implemented_at"] is not None
    assert done["implementation_notes"] == "Shipped in 2.0"
    listed = await ok(client.get("/v1/suggestions?status=implemented", headers=h))
    assert [s["id"] for s in listed["data"]] == [dark["id"]]
    by_category = await ok(client.get("/v1/suggestions?category=integration", headers=h))
    assert [s["id"] for s in by_category["data"]] == [api["id"]]

    totals = await metric_totals(
        client,
        h,
        "suggestions.new",
        "suggestions.votes",
        "suggestions.upvotes",
        "suggestions.downvotes",
    )
    assert totals == {
        "suggestions.new": 3,
        "suggestions.votes": 5,
        "suggestions.upvotes": 4,
        "suggestions.downvotes": 1,
    }
    kinds = [kind for kind, _ in await events_of(app, tenant, "suggestion.")]
    assert kinds.count("suggestion.voted") == 9
    assert kinds.count("suggestion.status_changed") == 2
    assert "suggestion.commented" in kinds


async def test_bad_suggestion_input_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    h = tenant.headers
    for body in (
        {"title": "x", "description": "y", "category": "wishes"},
        {"title": "", "description": "y"},
        {"title": "x"},
    ):
        problem(
            await client.post("/v1/suggestions", json=body, headers=h), 422, "validation-failed"
        )
    suggestion = await created(client, "/v1/suggestions", h, {"title": "x", "description": "y"})
    url = f"/v1/suggestions/{suggestion['id']}"
    problem(
        await client.post(f"{url}/vote", json={"value": 1}, headers=h), 422, "validation-failed"
    )
    problem(
        await client.patch(url, json={"status": "shipped"}, headers=h), 422, "validation-failed"
    )
    problem(await client.patch(url, json={"title": None}, headers=h), 422, "validation-failed")
    problem(
        await client.post(f"{url}/comments", json={"body": ""}, headers=h), 422, "validation-failed"
    )
    problem(
        await client.get("/v1/suggestions?cursor=bm90LWEtY3Vyc29y", headers=h),
        422,
        "validation-failed",
    )
    assert await ok(client.get(url, headers=h)) == suggestion


async def test_a_website_visitor_suggests_and_follows_only_their_suggestion(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = (await create_publishable_key(client, tenant.api_key, scopes=["intake:suggestions"]))[
        "key"
    ]
    visitor = {**auth(key), "Origin": ORIGIN}
    form = {"title": "Slovak voice", "description": "Please add it", "category": "new_agent"}
    receipt = await created(client, "/v1/intake/suggestions", visitor, form)
    assert (receipt["object"], receipt["status"]) == ("suggestion", "submitted")
    mine = {**visitor, "X-Access-Token": receipt["access_token"]}
    await ok(
        client.patch(
            f"/v1/suggestions/{receipt['id']}",
            json={"status": "planned", "implementation_notes": "Q3"},
            headers=tenant.headers,
        )
    )
    seen = await ok(client.get("/v1/intake/suggestion", headers=mine))
    assert (seen["id"], seen["status"], seen["implementation_notes"]) == (
        receipt["id"],
        "planned",
        "Q3",
    )
    staff = await ok(client.get(f"/v1/suggestions/{receipt['id']}", headers=tenant.headers))
    assert staff["author_user_id"] is None
    # The honeypot stores nothing; a key without the scope is refused.
    await created(
        client, "/v1/intake/suggestions", visitor, {**form, "website": "http://spam.example"}
    )
    assert len((await ok(client.get("/v1/suggestions", headers=tenant.headers)))["data"]) == 1
    other_key = (await create_publishable_key(client, tenant.api_key))["key"]
    refused = await client.post(
        "/v1/intake/suggestions", json=form, headers={**auth(other_key), "Origin": ORIGIN}
    )
    assert refused.status_code == 403, refused.text
