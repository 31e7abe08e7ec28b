"""A contact's conversations, messages and notes go out with a GDPR export and away with
an erasure (and out of search); message bodies expire by retention."""

from __future__ import annotations

from datetime import timedelta

from commbase.core.time import utcnow
from commbase.privacy import retention
from commbase.privacy.registry import retention_kinds
from tests.messaging.conftest import World
from tests.messaging.factories import create_account
from tests.privacy.factories import download


async def _conversation_with_text(world: World, phone: str, text: str) -> tuple[str, str, str]:
    account = await create_account(world.client, world.tenant, kind="web_chat", name="Chat")
    contact = await world.client.post(
        "/v1/contacts", json={"name": "Olga", "phone": phone}, headers=world.tenant.headers
    )
    conversation = await world.client.post(
        "/v1/conversations",
        json={"account_id": account["id"], "contact_id": contact.json()["id"]},
        headers=world.tenant.headers,
    )
    url = f"/v1/conversations/{conversation.json()['id']}"
    message = await world.client.post(
        f"{url}/messages", json={"body": text}, headers=world.tenant.headers
    )
    await world.client.post(
        f"{url}/notes", json={"body": "Prefers mornings"}, headers=world.tenant.headers
    )
    return contact.json()["id"], conversation.json()["id"], message.json()["id"]


async def test_export_and_erasure_with_the_contact(world: World) -> None:
    contact_id, conversation_id, message_id = await _conversation_with_text(
        world, "+420601200001", "Your zebracake order is ready"
    )
    export = await world.client.post(
        "/v1/privacy/exports",
        json={"subject_type": "contact", "subject_id": contact_id},
        headers=world.tenant.headers,
    )
    assert export.status_code == 201, export.text
    _, text = await download(world.client, world.tenant.headers, export.json()["id"])
    assert conversation_id in text
    assert "zebracake" in text
    assert "Prefers mornings" in text

    erasure = await world.client.post(
        "/v1/privacy/erasures",
        json={"subject_type": "contact", "subject_id": contact_id},
        headers=world.tenant.headers,
    )
    assert erasure.status_code == 201, erasure.text
    gone = await world.client.get(
        f"/v1/conversations/{conversation_id}", headers=world.tenant.headers
    )
    assert gone.status_code == 404
    missing = await world.client.get(f"/v1/messages/{message_id}", headers=world.tenant.headers)
    assert missing.status_code == 404
    search = await world.client.get(
        "/v1/conversations/search", params={"q": "zebracake"}, headers=world.tenant.headers
    )
    assert search.json()["data"] == []


async def test_message_bodies_expire_by_retention(world: World) -> None:
    _, _, message_id = await _conversation_with_text(
        world, "+420601200002", "The quokka special is back"
    )
    kind = retention_kinds()["message_bodies"]
    purged = await retention.purge_kind(
        world.app.state.db, kind, now=utcnow() + timedelta(days=kind.default_days + 1)
    )
    assert purged >= 1
    message = (
        await world.client.get(f"/v1/messages/{message_id}", headers=world.tenant.headers)
    ).json()
    assert message["body"] is None
    assert message["status"] in ("queued", "sent")  # the row stays for analytics
    search = await world.client.get(
        "/v1/conversations/search", params={"q": "quokka"}, headers=world.tenant.headers
    )
    assert search.json()["data"] == []
