"""Seed 001's ``contacts`` section for one channel account counts the contacts with a
conversation on that account, not the organization's whole contact book."""

from __future__ import annotations

from typing import Any

from tests.identity.factories import make_tenant
from tests.messaging.conftest import World
from tests.messaging.factories import create_account


async def _write(world: World, headers: dict[str, str], account_id: str, phone: str) -> str:
    response = await world.client.post(
        "/v1/messages/inbound",
        params={"account_id": account_id},
        json={"from_phone": phone, "body": "Hello"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["contact_id"]
    return contact_id


async def _contacts(world: World, headers: dict[str, str], account_id: str | None) -> Any:
    params = {"account_id": account_id} if account_id else {}
    response = await world.client.get("/v1/analytics/realtime", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["contacts"]


async def test_an_accounts_contacts_are_those_with_a_conversation_on_it(world: World) -> None:
    tenant = await make_tenant(world.app)  # an organization of its own: exact counts
    headers = tenant.headers
    line = await create_account(world.client, tenant, kind="sms", name="Texts")
    chat = await create_account(world.client, tenant, kind="web_chat", name="Site")
    both = await _write(world, headers, line["id"], "+420601700001")
    assert await _write(world, headers, chat["id"], "+420601700001") == both
    blocked = await _write(world, headers, line["id"], "+420601700002")
    await _write(world, headers, chat["id"], "+420601700003")
    # A contact of the book that never wrote on either account.
    added = await world.client.post(
        "/v1/contacts", json={"name": "Quiet", "phone": "+420601700004"}, headers=headers
    )
    assert added.status_code == 201, added.text
    changed = await world.client.patch(
        f"/v1/contacts/{blocked}", json={"blocked": True}, headers=headers
    )
    assert changed.status_code == 200, changed.text

    line_contacts = await _contacts(world, headers, line["id"])
    assert line_contacts["total"] == 2
    assert line_contacts["new"] == 2
    assert line_contacts["blocked"] == 1
    assert line_contacts["active"] == 2
    chat_contacts = await _contacts(world, headers, chat["id"])
    assert (chat_contacts["total"], chat_contacts["new"], chat_contacts["blocked"]) == (2, 2, 0)
    everyone = await _contacts(world, headers, None)
    assert (everyone["total"], everyone["new"], everyone["blocked"]) == (4, 4, 1)
    assert set(line_contacts) == set(everyone)
