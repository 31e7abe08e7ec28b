"""Small builders for contact test data, through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.identity.factories import auth


async def create_contact(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    body.setdefault("name", "John Doe")
    response = await client.post("/v1/contacts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def open_agent_session(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """Open a guest agent session; returns its id and the headers that authenticate as it."""
    response = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return str(body["id"]), auth(body["session_token"])


async def list_contacts(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/v1/contacts", params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data
