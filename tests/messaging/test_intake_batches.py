"""WhatsApp notifications filed in batches: new senders' contacts and conversations
made together, messages in order, replays ignored, events once; concurrent filers
store nothing twice; the webhook's remembered app secret never outlives a change."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from commbase.contacts.models import Contact
from commbase.core.db import Database
from commbase.core.outbox import OutboxEvent
from commbase.messaging import intake
from commbase.messaging.models import Conversation, Message, WhatsAppNotification
from tests.messaging.conftest import World
from tests.messaging.factories import notification, post_signed, whatsapp_account

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _messages(prefix: str, numbers: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Text messages ``(n, sender)``: wamid ``<prefix>.<n>`` from ``+4207<prefix><sender>``."""
    return [
        {
            "from": _wa_id(prefix, sender),
            "id": f"wamid.{prefix}.{n:04d}",
            "timestamp": str(int((T0 + timedelta(seconds=n)).timestamp())),
            "type": "text",
            "text": {"body": f"message {n:04d}"},
        }
        for n, sender in numbers
    ]


def _wa_id(prefix: str, sender: int) -> str:
    return f"4207{prefix}{sender:06d}"


def _envelope(phone_number_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return notification(
        phone_number_id,
        contacts=[
            {"profile": {"name": f"Sender {m['from']}"}, "wa_id": m["from"]} for m in messages
        ],
        messages=messages,
    )


async def _rows(database: Database, model: Any, *where: Any) -> list[Any]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(model).where(*where)))


async def _events(database: Database, org_id: str, event_type: str) -> list[dict[str, Any]]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.org_id == org_id, OutboxEvent.type == event_type)
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
        )
        return [row.payload for row in rows]


async def _drain(database: Database, *, limit: int) -> None:
    while await intake.file_due(database, limit=limit):
        pass


async def test_two_hundred_messages_from_150_new_senders_filed_in_one_batch(world: World) -> None:
    database: Database = world.app.state.db
    org_id = world.tenant.org_id
    account = await whatsapp_account(world.client, world.tenant, "2000001")
    # Messages 0-149 from senders 0-149, then 150-199 from senders 0-49 again.
    numbered = [(n, n % 150) for n in range(200)]
    for start in range(0, 200, 10):
        payload = _envelope("2000001", _messages("71", numbered[start : start + 10]))
        assert (await post_signed(world.client, payload)).status_code == 200
    # Meta repeats message 5 in a notification spelled differently, before filing.
    repeated = _envelope("2000001", _messages("71", [(5, 5)]))
    assert (await post_signed(world.client, repeated)).status_code == 200
    assert await intake.file_due(database, limit=200) == 21  # one batch

    phones = {f"+{_wa_id('71', sender)}" for sender in range(150)}
    contacts = await _rows(database, Contact, Contact.org_id == org_id, Contact.phone.in_(phones))
    assert len(contacts) == 150
    contact_of = {contact.phone: contact.id for contact in contacts}
    assert contact_of[f"+{_wa_id('71', 7)}"] != contact_of[f"+{_wa_id('71', 8)}"]
    assert {c.name for c in contacts if c.phone == f"+{_wa_id('71', 7)}"} == {
        f"Sender {_wa_id('71', 7)}"
    }
    conversations = await _rows(database, Conversation, Conversation.account_id == account["id"])
    assert len(conversations) == 150
    by_contact = {conversation.contact_id: conversation for conversation in conversations}
    assert set(by_contact) == set(contact_of.values())
    for sender in range(150):
        conversation = by_contact[contact_of[f"+{_wa_id('71', sender)}"]]
        expected = 2 if sender < 50 else 1
        assert (conversation.message_count, conversation.inbound_count) == (expected, expected)
        assert conversation.client_phone == f"+{_wa_id('71', sender)}"
        assert conversation.first_inbound_at == T0 + timedelta(seconds=sender)

    messages = await _rows(database, Message, Message.account_id == account["id"])
    assert len(messages) == 200
    in_id_order = [m.body for m in sorted(messages, key=lambda m: m.id)]
    assert in_id_order == [f"message {n:04d}" for n in range(200)]
    for message in messages:
        n = int(message.body.split()[1])
        assert message.contact_id == contact_of[f"+{_wa_id('71', n % 150)}"]
        assert message.conversation_id == by_contact[message.contact_id].id
    # A sender's conversation lists their messages in the order they came.
    second = by_contact[contact_of[f"+{_wa_id('71', 3)}"]]
    listed = await world.client.get(
        f"/v1/conversations/{second.id}/messages", headers=world.tenant.headers
    )
    assert sorted(m["body"] for m in listed.json()["data"]) == ["message 0003", "message 0153"]
    assert [m["body"] for m in sorted(listed.json()["data"], key=lambda m: m["id"])] == [
        "message 0003",
        "message 0153",
    ]

    # Replayed after filing: nothing more is stored or announced.
    again = _envelope("2000001", _messages("71", numbered[:10]))
    again["entry"][0]["id"] = "replayed"  # another body, the same message ids
    assert (await post_signed(world.client, again)).status_code == 200
    await intake.file_all(database)
    assert len(await _rows(database, Message, Message.account_id == account["id"])) == 200

    created = await _events(database, org_id, "contact.created")
    ours = set(contact_of.values())
    assert Counter(p["id"] for p in created if p["id"] in ours) == Counter(ours)
    opened = [
        p
        for p in await _events(database, org_id, "conversation.created")
        if p["account_id"] == account["id"]
    ]
    assert sorted(p["id"] for p in opened) == sorted(c.id for c in conversations)
    assert all(p["status"] == "open" for p in opened)
    received = [
        p
        for p in await _events(database, org_id, "message.received")
        if p.get("account_id") == account["id"]
    ]
    assert sorted(p["id"] for p in received) == sorted(m.id for m in messages)
    assert (
        await _rows(
            database, WhatsAppNotification, WhatsAppNotification.account_id == account["id"]
        )
        == []
    )


async def test_filers_working_at_once_store_each_message_once(world: World) -> None:
    database: Database = world.app.state.db
    org_id = world.tenant.org_id
    account = await whatsapp_account(world.client, world.tenant, "2000002")
    # 120 notifications of one message from 30 new senders: batches of 20 taken by
    # four filers at once share new senders (n and n + 30 come from the same one).
    for n in range(120):
        payload = _envelope("2000002", _messages("72", [(n, n % 30)]))
        assert (await post_signed(world.client, payload)).status_code == 200
    await asyncio.gather(*(_drain(database, limit=20) for _ in range(4)))

    waiting = await _rows(
        database, WhatsAppNotification, WhatsAppNotification.account_id == account["id"]
    )
    assert waiting == []
    phones = {f"+{_wa_id('72', sender)}" for sender in range(30)}
    contacts = await _rows(database, Contact, Contact.org_id == org_id, Contact.phone.in_(phones))
    assert len(contacts) == 30
    conversations = await _rows(database, Conversation, Conversation.account_id == account["id"])
    assert len(conversations) == 30
    assert sorted(c.contact_id for c in conversations) == sorted(c.id for c in contacts)
    assert {c.message_count for c in conversations} == {4}
    messages = await _rows(database, Message, Message.account_id == account["id"])
    assert sorted(m.provider_message_id for m in messages) == [
        f"wamid.72.{n:04d}" for n in range(120)
    ]
    # Each conversation lists its sender's messages in the order they came.
    for conversation in conversations:
        own = sorted(
            (m for m in messages if m.conversation_id == conversation.id), key=lambda m: m.id
        )
        numbers = [int(m.body.split()[1]) for m in own]
        assert numbers == sorted(numbers)
    contact_ids = {c.id for c in contacts}
    created = [
        p["id"]
        for p in await _events(database, org_id, "contact.created")
        if p["id"] in contact_ids
    ]
    assert sorted(created) == sorted(contact_ids)
    opened = [
        p
        for p in await _events(database, org_id, "conversation.created")
        if p["account_id"] == account["id"]
    ]
    assert len(opened) == 30
    received = [
        p
        for p in await _events(database, org_id, "message.received")
        if p.get("account_id") == account["id"]
    ]
    assert len(received) == 120


async def test_a_rotated_app_secret_or_removed_account_is_never_served_from_memory(
    world: World,
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "2000003")
    first = _envelope("2000003", _messages("73", [(0, 0)]))
    assert (await post_signed(world.client, first)).status_code == 200  # remembered now
    rotated = await world.client.patch(
        f"/v1/channel-accounts/{account['id']}",
        json={"app_secret": "meta-app-secret-rotated-98765"},
        headers=world.tenant.headers,
    )
    assert rotated.status_code == 200, rotated.text
    old = _envelope("2000003", _messages("73", [(1, 0)]))
    assert (await post_signed(world.client, old)).status_code == 403
    new = await post_signed(world.client, old, secret="meta-app-secret-rotated-98765")
    assert new.status_code == 200
    removed = await world.client.delete(
        f"/v1/channel-accounts/{account['id']}", headers=world.tenant.headers
    )
    assert removed.status_code == 204
    late = _envelope("2000003", _messages("73", [(2, 0)]))
    answer = await post_signed(world.client, late, secret="meta-app-secret-rotated-98765")
    assert answer.status_code == 403
    kept = await _rows(
        world.app.state.db,
        WhatsAppNotification,
        WhatsAppNotification.account_id == account["id"],
    )
    assert sorted(row.body.count("wamid.73.0001") for row in kept) == [0, 1]


async def test_one_batch_of_two_tenants_with_replays_files_each_account_on_its_own(
    world: World,
) -> None:
    """Notifications to two organizations' accounts filed in one batch: the same
    sender and the same provider ids on both stay apart; a message stored before and
    one repeated in the batch are stored once; a pending conversation opens again and
    counts every new message (one statement for the batch's conversations)."""
    database: Database = world.app.state.db
    ours = await whatsapp_account(world.client, world.tenant, "2000005")
    theirs = await whatsapp_account(world.client, world.other, "2000006")
    first = _envelope("2000005", _messages("75", [(0, 1)]))
    assert (await post_signed(world.client, first)).status_code == 200
    await intake.file_all(database)
    [before] = await _rows(database, Conversation, Conversation.account_id == ours["id"])
    pending = await world.client.post(
        f"/v1/conversations/{before.id}/status",
        json={"status": "pending"},
        headers=world.tenant.headers,
    )
    assert pending.status_code == 200, pending.text

    # One batch: message 0 again (stored before), 1 twice, 2 from the same sender,
    # 3 from a new one; the other organization gets 0-2 under the same ids from the
    # same number.
    batch = [
        _envelope("2000005", _messages("75", [(0, 1), (1, 1)])),
        _envelope("2000006", _messages("75", [(0, 1), (1, 1), (2, 1)])),
        _envelope("2000005", _messages("75", [(1, 1), (2, 1), (3, 2)])),
    ]
    for payload in batch:
        assert (await post_signed(world.client, payload)).status_code == 200
    assert await intake.file_due(database, limit=200) == 3

    for tenant, account, bodies in (
        (world.tenant, ours, ["message 0000", "message 0001", "message 0002", "message 0003"]),
        (world.other, theirs, ["message 0000", "message 0001", "message 0002"]),
    ):
        messages = await _rows(database, Message, Message.account_id == account["id"])
        assert sorted(m.body for m in messages) == bodies
        assert {m.org_id for m in messages} == {tenant.org_id}
        received = [
            p
            for p in await _events(database, tenant.org_id, "message.received")
            if p["account_id"] == account["id"]
        ]
        assert sorted(p["id"] for p in received) == sorted(m.id for m in messages)
    one = await _rows(database, Message, Message.account_id.in_([ours["id"], theirs["id"]]))
    assert len({m.contact_id for m in one if m.body == "message 0001"}) == 2

    shown = await world.client.get(f"/v1/conversations/{before.id}", headers=world.tenant.headers)
    assert shown.status_code == 200
    seen = shown.json()
    assert (seen["status"], seen["message_count"], seen["inbound_count"]) == ("open", 3, 3)
    assert seen["first_inbound_at"] == "2026-11-21T08:00:00Z"
    assert seen["last_inbound_at"] == "2026-11-21T08:00:02Z"
    reopened = [
        p
        for p in await _events(database, world.tenant.org_id, "conversation.status_changed")
        if p["id"] == before.id
    ]
    assert [(p["previous_status"], p["status"]) for p in reopened][-1] == ("pending", "open")
    counted = {
        c.contact_id: (c.message_count, c.inbound_count, c.status)
        for c in await _rows(
            database, Conversation, Conversation.account_id.in_([ours["id"], theirs["id"]])
        )
    }
    assert sorted(counted.values()) == [(1, 1, "open"), (3, 3, "open"), (3, 3, "open")]
