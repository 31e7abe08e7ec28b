"""Cloud API notifications carrying many things at once (Meta batches: several entries,
changes, messages and statuses in one POST) are filed completely and once: every
message stored once in its own account and conversation, in the order it came, each
status applied once and announced once, in the order the message moved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from commbase.messaging import intake
from commbase.messaging.models import Conversation, Message, WhatsAppNotification
from tests.messaging.conftest import World
from tests.messaging.factories import WABA_ID, post_signed, run_sends, whatsapp_account

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _text(n: int, wa_id: str) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.81.{n:03d}",
        "timestamp": str(int((T0 + timedelta(seconds=n)).timestamp())),
        "type": "text",
        "text": {"body": f"part {n:03d}"},
    }


def _change(phone_number_id: str, **value: Any) -> dict[str, Any]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100000", "phone_number_id": phone_number_id},
            **value,
        },
    }


def _value(messages: list[dict[str, Any]]) -> dict[str, Any]:
    senders = sorted({m["from"] for m in messages})
    return {
        "contacts": [{"profile": {"name": f"Sender {s}"}, "wa_id": s} for s in senders],
        "messages": messages,
    }


async def _rows(world: World, model: Any, *where: Any) -> list[Any]:
    async with world.app.state.db.sessionmaker() as session:
        return list(await session.scalars(select(model).where(*where).order_by(model.id)))


async def _events(world: World, org_id: str, event_type: str) -> list[dict[str, Any]]:
    rows = await _rows(
        world, OutboxEvent, OutboxEvent.org_id == org_id, OutboxEvent.type == event_type
    )
    return [row.payload for row in rows]


async def test_a_notification_of_many_entries_changes_and_messages_is_filed_completely_once(
    world: World,
) -> None:
    ours = await whatsapp_account(world.client, world.tenant, "2000011")
    theirs = await whatsapp_account(world.client, world.other, "2000012")  # same Meta app
    alice, bob, carol = "420777000111", "420777000222", "420777000333"
    first = [_text(0, alice), _text(1, bob), _text(2, alice)]
    second = [_text(3, carol), _text(4, alice), _text(5, alice)]
    elsewhere = [_text(6, bob), _text(7, bob)]  # to the other organization's number
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    _change("2000011", **_value(first)),
                    _change(
                        "2000011",
                        **_value(second),
                        statuses=[  # about messages this account never sent: ignored
                            {"id": "wamid.unknown", "status": "read", "timestamp": "1"}
                        ],
                    ),
                ],
            },
            {"id": WABA_ID, "changes": [_change("2000012", **_value(elsewhere))]},
        ],
    }
    for _ in range(2):  # Meta retries the very same body
        assert (await post_signed(world.client, payload)).status_code == 200
    respelled = json.loads(json.dumps(payload))
    respelled["entry"].reverse()  # the same messages, another body
    assert (await post_signed(world.client, respelled)).status_code == 200
    waiting = await _rows(
        world,
        WhatsAppNotification,
        WhatsAppNotification.account_id.in_([ours["id"], theirs["id"]]),
    )
    assert len(waiting) == 4  # one per account named, per distinct body
    await intake.file_all(world.app.state.db)

    stored = await _rows(world, Message, Message.account_id == ours["id"])
    assert [m.provider_message_id for m in stored] == [f"wamid.81.{n:03d}" for n in range(6)]
    assert all(m.org_id == world.tenant.org_id for m in stored)
    conversations = {
        c.client_phone: c
        for c in await _rows(world, Conversation, Conversation.account_id == ours["id"])
    }
    assert sorted(conversations) == [f"+{alice}", f"+{bob}", f"+{carol}"]
    by_conversation = {
        phone: [m.body for m in stored if m.conversation_id == c.id]
        for phone, c in conversations.items()
    }
    assert by_conversation == {
        f"+{alice}": ["part 000", "part 002", "part 004", "part 005"],
        f"+{bob}": ["part 001"],
        f"+{carol}": ["part 003"],
    }
    alices = conversations[f"+{alice}"]
    assert (alices.message_count, alices.inbound_count) == (4, 4)
    assert alices.first_inbound_at == T0
    assert alices.last_inbound_at == T0 + timedelta(seconds=5)
    other = await _rows(world, Message, Message.account_id == theirs["id"])
    assert [m.body for m in other] == ["part 006", "part 007"]
    assert all(m.org_id == world.other.org_id for m in other)

    received = await _events(world, world.tenant.org_id, "message.received")
    mine = [p["id"] for p in received if p["account_id"] == ours["id"]]
    assert sorted(mine) == [m.id for m in stored]
    theirs_received = await _events(world, world.other.org_id, "message.received")
    assert sorted(p["id"] for p in theirs_received if p["account_id"] == theirs["id"]) == [
        m.id for m in other
    ]
    assert (
        await _rows(
            world,
            WhatsAppNotification,
            WhatsAppNotification.account_id.in_([ours["id"], theirs["id"]]),
        )
        == []
    )


def _graph(wamids: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"messaging_product": "whatsapp", "messages": [{"id": wamids.pop(0)}]}
        )

    return httpx.MockTransport(handle)


def _status(wamid: str, status: str, seconds: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(int((T0 + timedelta(seconds=seconds)).timestamp())),
        "recipient_id": "420777000444",
        **extra,
    }


async def test_statuses_of_several_messages_in_one_notification_move_each_once_in_order(
    world: World,
) -> None:
    with use_clock(FrozenClock(T0)):
        account = await whatsapp_account(world.client, world.tenant, "2000013")
        incoming = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": WABA_ID,
                    "changes": [_change("2000013", **_value([_text(10, "420777000444")]))],
                }
            ],
        }
        assert (await post_signed(world.client, incoming)).status_code == 200
        await intake.file_all(world.app.state.db)
        [conversation] = await _rows(world, Conversation, Conversation.account_id == account["id"])
        world.app.state.job_services["whatsapp_transport"] = _graph(["wamid.s1", "wamid.s2"])
        ids = []
        for n in (1, 2):
            queued = await world.client.post(
                f"/v1/conversations/{conversation.id}/messages",
                json={"body": f"Answer {n}"},
                headers={**world.tenant.headers, "Idempotency-Key": f"batch-status-{n}"},
            )
            assert queued.status_code == 202, queued.text
            ids.append(queued.json()["id"])
        await run_sends(world.app)
    first, second = ids
    failure = {"errors": [{"code": 131026, "title": "Message undeliverable"}]}
    statuses = [
        _status("wamid.s1", "read", 90),
        _status("wamid.s2", "delivered", 80),
        _status("wamid.s1", "sent", 70),
        _status("wamid.s1", "delivered", 80),
        _status("wamid.s1", "read", 90),  # repeated
        _status("wamid.s2", "failed", 95, **failure),  # after delivered: ignored
    ]
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [_change("2000013", statuses=statuses)]}],
    }
    assert (await post_signed(world.client, payload)).status_code == 200
    await intake.file_all(world.app.state.db)

    one = (await world.client.get(f"/v1/messages/{first}", headers=world.tenant.headers)).json()
    two = (await world.client.get(f"/v1/messages/{second}", headers=world.tenant.headers)).json()
    assert (one["status"], one["delivered_at"], one["read_at"]) == (
        "read",
        "2026-11-22T10:01:20Z",
        "2026-11-22T10:01:30Z",
    )
    assert (two["status"], two["delivered_at"], two["failed_at"]) == (
        "delivered",
        "2026-11-22T10:01:20Z",
        None,
    )
    org_id = world.tenant.org_id
    delivered = [p for p in await _events(world, org_id, "message.delivered") if p["id"] in ids]
    read = [p for p in await _events(world, org_id, "message.read") if p["id"] in ids]
    failed = [p for p in await _events(world, org_id, "message.failed") if p["id"] in ids]
    assert sorted(p["id"] for p in delivered) == sorted(ids)
    assert [p["id"] for p in read] == [first]
    assert failed == []
    # The first message's delivery was announced before its reading.
    events = await _rows(
        world, OutboxEvent, OutboxEvent.org_id == org_id, OutboxEvent.type.like("message.%")
    )
    moved = [(e.type, e.payload["status"]) for e in events if e.payload.get("id") == first]
    assert moved[-2:] == [("message.delivered", "delivered"), ("message.read", "read")]


async def test_a_message_whose_content_holds_a_number_past_64_bits_is_filed(
    world: World,
) -> None:
    """A provider's raw content is kept in the message's metadata as sent, numbers of
    any size included (JSON has no bound; PostgreSQL's jsonb keeps them)."""
    account = await whatsapp_account(world.client, world.tenant, "1000077")
    big = 2**70
    location = {"latitude": 50.08, "longitude": 14.42, "name": "Shop", "precision": big}
    message = {**_text(77, "420601555077"), "type": "location", "location": location}
    del message["text"]
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [_change("1000077", **_value([message]))]}],
    }
    assert (await post_signed(world.client, payload)).status_code == 200
    await intake.file_all(world.app.state.db)
    [conversation] = (
        await world.client.get(
            "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
        )
    ).json()["data"]
    response = await world.client.get(
        f"/v1/conversations/{conversation['id']}/messages", headers=world.tenant.headers
    )
    [stored] = response.json()["data"]
    assert stored["content_type"] == "location"
    assert stored["metadata"]["location"]["precision"] == big
    async with world.app.state.db.sessionmaker() as session:
        errors = list(await session.scalars(select(WhatsAppNotification.last_error)))
    assert not [error for error in errors if error]  # nothing left to retry
