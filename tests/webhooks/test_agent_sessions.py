"""An agent session's endpoints are its own: only it sees them, and they hear only
events about its own work. Endpoints of users and keys hear the whole organization."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from commbase.core import outbox
from commbase.webhooks.dispatcher import Dispatcher
from tests.contacts.factories import create_contact, open_agent_session
from tests.identity.factories import Tenant, make_tenant
from tests.webhooks.receiver import Receiver


async def create_endpoint(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **body: Any
) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, **body}, headers=headers)
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def record_call(app: FastAPI, tenant: Tenant, *, agent_session_id: str | None) -> str:
    """A call of the organization ended, placed by ``agent_session_id`` (or by a key)."""
    call_id = f"call_{agent_session_id or 'org'}"
    async with app.state.db.sessionmaker() as session:
        await outbox.record(
            session,
            "call.completed",
            {
                "id": call_id,
                "kind": "voice",
                "status": "completed",
                "direction": "outbound",
                "duration_seconds": 61,
                "billable_minutes": 2,
                "cost_amount": 40,
                "currency": "USD",
                "end_reason": "hangup",
                "privacy_mode": False,
                "agent_session_id": agent_session_id,
                "user_id": tenant.owner_id,
            },
            org_id=tenant.org_id,
        )
        await session.commit()
    return call_id


async def test_an_agent_session_sees_and_manages_only_its_own_endpoints(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = await make_tenant(app)
    agent_id, agent = await open_agent_session(client, tenant.headers)
    _, other_agent = await open_agent_session(client, tenant.headers)
    own = await create_endpoint(client, agent, receiver.url)
    assert own["owner_agent_session_id"] == agent_id
    organization = await create_endpoint(client, tenant.headers, receiver.url)
    assert organization["owner_agent_session_id"] is None

    listed = await client.get("/v1/webhooks", headers=agent)
    assert [e["id"] for e in listed.json()["data"]] == [own["id"]]
    assert (await client.get("/v1/webhooks", headers=other_agent)).json()["data"] == []
    everything = await client.get("/v1/webhooks", headers=tenant.headers)
    assert {e["id"] for e in everything.json()["data"]} == {own["id"], organization["id"]}

    for headers, endpoint in ((other_agent, own), (agent, organization)):
        base = f"/v1/webhooks/{endpoint['id']}"
        for method, path, body in (
            ("GET", base, None),
            ("PATCH", base, {"description": "mine now"}),
            ("POST", f"{base}/rotate-secret", {}),
            ("POST", f"{base}/test", None),
            ("GET", f"{base}/deliveries", None),
            ("POST", f"{base}/replay", {"since": "2026-01-01T00:00:00Z"}),
            ("DELETE", base, None),
        ):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (method, path, response.text)
    # Its own endpoint it manages fully; the organization's key still sees it.
    changed = await client.patch(
        f"/v1/webhooks/{own['id']}", json={"description": "agent hook"}, headers=agent
    )
    assert changed.json()["description"] == "agent hook"
    shown = await client.get(f"/v1/webhooks/{own['id']}", headers=tenant.headers)
    assert shown.json()["description"] == "agent hook"
    deleted = await client.delete(f"/v1/webhooks/{own['id']}", headers=agent)
    assert deleted.status_code == 204


async def test_an_agent_sessions_endpoint_hears_only_its_own_work(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    tenant = await make_tenant(app)
    agent_id, agent = await open_agent_session(client, tenant.headers)
    other_id, other_agent = await open_agent_session(client, tenant.headers)
    types = ["contact.created", "call.*"]
    own = await create_endpoint(client, agent, receiver.url, event_types=types)
    organization = await create_endpoint(client, tenant.headers, receiver.url, event_types=types)

    mine = await create_contact(client, agent, name="Agent's lead")
    await create_contact(client, other_agent, name="Other agent's lead")
    await create_contact(client, tenant.headers, name="Office contact")
    my_call = await record_call(app, tenant, agent_session_id=agent_id)
    await record_call(app, tenant, agent_session_id=other_id)
    await record_call(app, tenant, agent_session_id=None)
    await dispatcher.run_once()

    heard = await client.get(f"/v1/webhooks/{own['id']}/deliveries", headers=agent)
    got = sorted((d["event_type"], d["payload"]["data"]["id"]) for d in heard.json()["data"])
    assert got == [("call.completed", my_call), ("contact.created", mine["id"])]
    all_heard = await client.get(
        f"/v1/webhooks/{organization['id']}/deliveries", headers=tenant.headers
    )
    assert len(all_heard.json()["data"]) == 6
    assert len(receiver.received) == 8

    # A replay for the agent's endpoint queues its own events only.
    replayed = await client.post(
        f"/v1/webhooks/{own['id']}/replay", json={"since": own["created_at"]}, headers=agent
    )
    assert replayed.json() == {"queued": 2}
