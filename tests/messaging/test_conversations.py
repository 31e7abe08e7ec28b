"""Conversations through the simulator: opening one, the number patterns, replies and
STOP opt-outs, assignment, statuses, labels, notes, analysis, filters and search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role
from commbase.messaging import simulation
from commbase.messaging.models import ChannelAccount
from tests.identity.factories import add_member, run_operator_job
from tests.messaging.conftest import World
from tests.messaging.factories import create_account, run_sends, run_simulator

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


async def _contact(world: World, phone: str, name: str = "Jana") -> str:
    response = await world.client.post(
        "/v1/contacts", json={"name": name, "phone": phone}, headers=world.tenant.headers
    )
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


async def _conversation(world: World, account_id: str, phone: str) -> dict[str, Any]:
    contact_id = await _contact(world, phone)
    response = await world.client.post(
        "/v1/conversations",
        json={"account_id": account_id, "contact_id": contact_id},
        headers=world.tenant.headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _send(world: World, conversation_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("body", "Your table is booked for 7 pm.")
    response = await world.client.post(
        f"/v1/conversations/{conversation_id}/messages", json=body, headers=world.tenant.headers
    )
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    return data


async def _message(world: World, message_id: str) -> dict[str, Any]:
    response = await world.client.get(f"/v1/messages/{message_id}", headers=world.tenant.headers)
    data: dict[str, Any] = response.json()
    return data


async def _events(world: World, event_type: str) -> list[dict[str, Any]]:
    async with world.app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload).where(
                OutboxEvent.org_id == world.tenant.org_id, OutboxEvent.type == event_type
            )
        )
        return list(rows)


async def test_simulated_numbers_follow_their_patterns(world: World, clock: FrozenClock) -> None:
    account = await create_account(world.client, world.tenant, kind="sms", name="SMS line")
    phones = {
        "read": "+420601100010",
        "refused": "+420601100013",
        "lost": "+420601100014",
        "unread": "+420601100015",
        "busy": "+420601100016",
    }
    sent = {}
    for name, phone in phones.items():
        conversation = await _conversation(world, account["id"], phone)
        sent[name] = (await _send(world, conversation["id"]))["id"]
    await run_sends(world.app)
    assert (await _message(world, sent["refused"]))["status"] == "failed"
    assert (await _message(world, sent["refused"]))["error_code"] == "sim_131026"
    assert (await _message(world, sent["busy"]))["status"] == "queued"  # retried later
    for _ in range(2):
        clock.advance(15)
        await run_sends(world.app)
    busy = await _message(world, sent["busy"])
    assert busy["status"] == "sent"
    assert busy["attempts"] == 3
    clock.advance(60)
    await run_simulator(world.app, now=clock.now())
    read = await _message(world, sent["read"])
    assert read["status"] == "read"
    assert read["delivered_at"] is not None
    assert read["read_at"] is not None
    assert (await _message(world, sent["unread"]))["status"] == "delivered"
    lost = await _message(world, sent["lost"])
    assert lost["status"] == "failed"
    assert lost["error_code"] == "sim_131049"
    kinds = {event["id"]: event["status"] for event in await _events(world, "message.failed")}
    assert kinds[sent["lost"]] == "failed"
    assert sent["refused"] in kinds


async def test_a_stop_reply_opts_the_contact_out_and_marks_the_message_replied(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="sms", name="Promos")
    stopper = await _conversation(world, account["id"], "+420601100099")
    thanker = await _conversation(world, account["id"], "+420601100027")
    stop_message = (await _send(world, stopper["id"]))["id"]
    thanks_message = (await _send(world, thanker["id"]))["id"]
    await run_sends(world.app)
    clock.advance(6)
    await run_simulator(world.app, now=clock.now())  # read; replies come at 8 s
    clock.advance(5)
    await run_simulator(world.app, now=clock.now())
    assert (await _message(world, stop_message))["replied_at"] is not None
    assert (await _message(world, thanks_message))["replied_at"] is not None
    messages = await world.client.get(
        f"/v1/conversations/{stopper['id']}/messages", headers=world.tenant.headers
    )
    reply = messages.json()["data"][0]
    assert reply["direction"] == "inbound"
    assert reply["body"] == "STOP"
    opt_outs = (
        await world.client.get("/v1/messaging/opt-outs", headers=world.tenant.headers)
    ).json()
    opted = {row["contact_id"]: row["source"] for row in opt_outs["data"]}
    assert opted.get(stopper["contact_id"]) == "stop_reply"
    assert thanker["contact_id"] not in opted
    announced = await _events(world, "contact.opted_out")
    assert [e["contact_id"] for e in announced].count(stopper["contact_id"]) == 1
    # Running the simulator again replies nothing more.
    clock.advance(30)
    await run_simulator(world.app, now=clock.now())
    again = await world.client.get(
        f"/v1/conversations/{stopper['id']}/messages", headers=world.tenant.headers
    )
    assert len(again.json()["data"]) == 2
    back_in = await world.client.delete(
        f"/v1/messaging/opt-outs/{stopper['contact_id']}", headers=world.tenant.headers
    )
    assert back_in.status_code == 204


async def test_assign_status_labels_notes_analysis_and_filters(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="web_chat", name="Web chat")
    conversation = await _conversation(world, account["id"], "+420601100031")
    other = await _conversation(world, account["id"], "+420601100032")
    url = f"/v1/conversations/{conversation['id']}"
    headers = world.tenant.headers
    member_id, _ = await add_member(world.app, world.tenant, role=Role.AGENT)

    assigned = await world.client.post(
        f"{url}/assign", json={"user_id": member_id}, headers=headers
    )
    assert assigned.json()["assignee_user_id"] == member_id
    stranger = await world.client.post(
        f"{url}/assign", json={"user_id": world.other.owner_id}, headers=headers
    )
    assert stranger.status_code == 422
    labelled = await world.client.post(
        f"{url}/labels", json={"add": ["vip", "billing"]}, headers=headers
    )
    assert labelled.json()["labels"] == ["vip", "billing"]
    unlabelled = await world.client.post(
        f"{url}/labels", json={"remove": ["billing"]}, headers=headers
    )
    assert unlabelled.json()["labels"] == ["vip"]
    note = await world.client.post(
        f"{url}/notes", json={"body": "Call back Monday"}, headers=headers
    )
    assert note.status_code == 201
    notes = await world.client.get(f"{url}/notes", headers=headers)
    assert [n["body"] for n in notes.json()["data"]] == ["Call back Monday"]

    early = await world.client.patch(url, json={"satisfaction_rating": 5}, headers=headers)
    assert early.status_code == 422
    clock.advance(600)
    resolved = await world.client.post(
        f"{url}/status", json={"status": "resolved"}, headers=headers
    )
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution_seconds"] == 600
    analysed = await world.client.patch(
        url,
        json={
            "satisfaction_rating": 5,
            "intent": "booking",
            "sentiment": "positive",
            "sentiment_score": 0.8,
            "lead_score": 72,
            "conversion_probability": 0.4,
            "outcome": "sale",
            "sale_amount": 125000,
            "sale_currency": "CZK",
            "priority": "high",
        },
        headers=headers,
    )
    assert analysed.status_code == 200, analysed.text
    body = analysed.json()
    assert body["satisfaction_rating"] == 5
    assert body["rated_at"] is not None
    assert body["outcome"] == "sale"
    assert body["sale_amount"] == 125000

    async def listed(**params: Any) -> set[str]:
        response = await world.client.get("/v1/conversations", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()["data"]}

    assert await listed(account_id=account["id"], status="resolved") == {conversation["id"]}
    assert await listed(account_id=account["id"], status="open") == {other["id"]}
    assert await listed(account_id=account["id"], label="vip") == {conversation["id"]}
    assert await listed(account_id=account["id"], assignee_user_id=member_id) == {
        conversation["id"]
    }
    assert await listed(account_id=account["id"], unassigned=True) == {other["id"]}
    assert conversation["id"] in await listed(channel="web_chat")
    assert conversation["id"] not in await listed(channel="whatsapp")
    assert await listed(account_id=account["id"], label="nobody") == set()
    assigned_events = await _events(world, "conversation.assigned")
    assert any(e["id"] == conversation["id"] for e in assigned_events)
    changed = await _events(world, "conversation.status_changed")
    assert any(e["id"] == conversation["id"] and e["previous_status"] == "open" for e in changed)
    # Resolved: a new conversation with the contact opens on the account.
    reopened = await world.client.post(
        "/v1/conversations",
        json={"account_id": account["id"], "contact_id": conversation["contact_id"]},
        headers=headers,
    )
    assert reopened.json()["id"] != conversation["id"]


async def test_full_text_search_finds_words_of_this_organization_only(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="email", name="Mailbox")
    conversation = await _conversation(world, account["id"], "+420601100041")
    found = await _send(world, conversation["id"], body="Your invoice INV-77 is attached")
    await _send(world, conversation["id"], body="Thank you for waiting")
    other_account = await create_account(world.client, world.other, kind="email", name="Other")
    other_contact = await world.client.post(
        "/v1/contacts", json={"name": "Eve", "phone": "+420601100042"}, headers=world.other.headers
    )
    other_conversation = await world.client.post(
        "/v1/conversations",
        json={"account_id": other_account["id"], "contact_id": other_contact.json()["id"]},
        headers=world.other.headers,
    )
    await world.client.post(
        f"/v1/conversations/{other_conversation.json()['id']}/messages",
        json={"body": "Another invoice for someone else"},
        headers=world.other.headers,
    )
    hits = await world.client.get(
        "/v1/conversations/search", params={"q": "INVOICE attached"}, headers=world.tenant.headers
    )
    assert hits.status_code == 200, hits.text
    [hit] = hits.json()["data"]
    assert hit["message_id"] == found["id"]
    assert hit["conversation_id"] == conversation["id"]
    assert "**invoice**" in hit["snippet"].lower()
    none = await world.client.get(
        "/v1/conversations/search", params={"q": "attached waiting"}, headers=world.tenant.headers
    )
    assert none.json()["data"] == []
    empty = await world.client.get(
        "/v1/conversations/search", params={"q": "!!!"}, headers=world.tenant.headers
    )
    assert empty.status_code == 422


async def test_idempotency_daily_assistant_limit_and_account_send_rate(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(
        world.client, world.tenant, kind="telegram", name="Bot", send_rate_per_minute=1
    )
    conversation = await _conversation(world, account["id"], "+420601100051")
    url = f"/v1/conversations/{conversation['id']}/messages"
    keyed = {**world.tenant.headers, "Idempotency-Key": "rate-1"}
    first = await world.client.post(url, json={"body": "One"}, headers=keyed)
    replay = await world.client.post(url, json={"body": "One"}, headers=keyed)
    assert replay.json()["id"] == first.json()["id"]
    second = await _send(world, conversation["id"], body="Two")
    ids = [first.json()["id"], second["id"]]
    await run_sends(world.app)  # both at once: one takes the minute's slot
    statuses = sorted([(await _message(world, i))["status"] for i in ids])
    assert statuses == ["queued", "sent"]
    clock.advance(61)
    await run_sends(world.app)
    assert [(await _message(world, i))["status"] for i in ids] == ["sent", "sent"]

    async with world.app.state.db.sessionmaker() as session:
        row = await session.get(ChannelAccount, account["id"])
        assert row is not None
        row.send_rate_per_minute = 1000
        await session.commit()
    settings = {"ai_settings": {"daily_message_limit": 2}}
    changed = await world.client.patch(
        f"/v1/users/{world.tenant.owner_id}", json=settings, headers=world.tenant.headers
    )
    assert changed.status_code == 200, changed.text
    for text in ("A1", "A2"):
        await _send(world, conversation["id"], body=text, author_role="assistant")
    capped = await world.client.post(
        url, json={"body": "A3", "author_role": "assistant"}, headers=world.tenant.headers
    )
    assert capped.status_code == 429
    assert "daily_message_limit" in capped.json()["detail"]
    assert int(capped.headers["retry-after"]) > 0
    await _send(world, conversation["id"], body="A human may still write")
    clock.advance(timedelta(days=1).total_seconds())
    await _send(world, conversation["id"], body="A4", author_role="assistant")


async def test_posted_inbound_matches_the_contact_by_email_and_drops_repeats(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="email", name="Inbox")
    url = "/v1/messages/inbound"
    params = {"account_id": account["id"]}
    first = await world.client.post(
        url,
        params=params,
        json={
            "from_email": "olga@example.com",
            "from_name": "Olga",
            "body": "Hello",
            "provider_message_id": "mail-1",
        },
        headers=world.tenant.headers,
    )
    assert first.status_code == 201, first.text
    repeat = await world.client.post(
        url,
        params=params,
        json={"from_email": "olga@example.com", "body": "Hello", "provider_message_id": "mail-1"},
        headers=world.tenant.headers,
    )
    assert repeat.json()["id"] == first.json()["id"]
    clock.advance(60)
    second = await world.client.post(
        url,
        params=params,
        json={
            "from_email": "olga@example.com",
            "body": "Any news?",
            "provider_message_id": "mail-2",
        },
        headers=world.tenant.headers,
    )
    assert second.json()["conversation_id"] == first.json()["conversation_id"]
    assert second.json()["contact_id"] == first.json()["contact_id"]
    conversation = await world.client.get(
        f"/v1/conversations/{first.json()['conversation_id']}", headers=world.tenant.headers
    )
    assert conversation.json()["inbound_count"] == 2
    assert conversation.json()["client_email"] == "olga@example.com"
    foreign = await world.client.post(
        url,
        params=params,
        json={"from_email": "x@example.com", "body": "Hi"},
        headers=world.other.headers,
    )
    assert foreign.status_code == 422


async def test_snoozed_conversations_wake_and_blocked_contacts_get_nothing(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="sms", name="Wake")
    conversation = await _conversation(world, account["id"], "+420601100061")
    url = f"/v1/conversations/{conversation['id']}"
    until = (T0 + timedelta(hours=1)).isoformat()
    snoozed = await world.client.post(
        f"{url}/status",
        json={"status": "snoozed", "snoozed_until": until},
        headers=world.tenant.headers,
    )
    assert snoozed.json()["status"] == "snoozed"
    await run_operator_job(world.app, "messaging.wake_snoozed")
    still = await world.client.get(url, headers=world.tenant.headers)
    assert still.json()["status"] == "snoozed"
    clock.advance(3601)
    await run_operator_job(world.app, "messaging.wake_snoozed")
    woken = await world.client.get(url, headers=world.tenant.headers)
    assert woken.json()["status"] == "open"
    assert woken.json()["snoozed_until"] is None

    blocked = await world.client.patch(
        f"/v1/contacts/{conversation['contact_id']}",
        json={"blocked": True},
        headers=world.tenant.headers,
    )
    assert blocked.status_code == 200
    refused = await world.client.post(
        f"{url}/messages", json={"body": "Hi"}, headers=world.tenant.headers
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/contact-blocked"


async def test_an_agent_session_works_only_with_its_own_conversations(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="web_chat", name="Agents")
    opened = await world.client.post(
        "/v1/agent-sessions",
        json={"agent_context": {"agent_id": "desk-bot"}},
        headers=world.tenant.headers,
    )
    agent = {"Authorization": f"Bearer {opened.json()['session_token']}"}
    own_contact = await world.client.post(
        "/v1/contacts", json={"name": "Agent's", "phone": "+420601100071"}, headers=agent
    )
    mine = await world.client.post(
        "/v1/conversations",
        json={"account_id": account["id"], "contact_id": own_contact.json()["id"]},
        headers=agent,
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["assignee_agent_session_id"] == opened.json()["id"]
    theirs = await _conversation(world, account["id"], "+420601100072")
    not_its_contact = await world.client.post(
        "/v1/conversations",
        json={"account_id": account["id"], "contact_id": theirs["contact_id"]},
        headers=agent,
    )
    assert not_its_contact.status_code == 422
    hidden = await world.client.get(f"/v1/conversations/{theirs['id']}", headers=agent)
    assert hidden.status_code == 404
    listed = await world.client.get(
        "/v1/conversations", params={"account_id": account["id"]}, headers=agent
    )
    assert [c["id"] for c in listed.json()["data"]] == [mine.json()["id"]]
    sent = await world.client.post(
        f"/v1/conversations/{mine.json()['id']}/messages", json={"body": "Hi"}, headers=agent
    )
    assert sent.status_code == 202
    assert sent.json()["sender_agent_session_id"] == opened.json()["id"]


async def test_a_web_chat_session_without_phone_or_email_stays_one_contact(
    world: World, clock: FrozenClock
) -> None:
    account = await create_account(world.client, world.tenant, kind="web_chat", name="Widget")
    params = {"account_id": account["id"]}
    posted = []
    for text in ("Hi", "Are you open on Sunday?"):
        response = await world.client.post(
            "/v1/messages/inbound",
            params=params,
            json={"session_id": "widget-session-42", "body": text},
            headers=world.tenant.headers,
        )
        assert response.status_code == 201, response.text
        posted.append(response.json())
        clock.advance(5)
    assert posted[0]["contact_id"] == posted[1]["contact_id"]
    assert posted[0]["conversation_id"] == posted[1]["conversation_id"]
    conversation = await world.client.get(
        f"/v1/conversations/{posted[0]['conversation_id']}", headers=world.tenant.headers
    )
    assert conversation.json()["session_id"] == "widget-session-42"


async def test_messages_that_stay_delivered_do_not_hold_back_newer_ones(
    world: World, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator reads a batch of the oldest messages with a step to come; a message
    that stays delivered (never read) has none left, so a batch's worth of them must
    not keep every newer message where it is, however many passes run."""
    monkeypatch.setattr(simulation, "BATCH", 2)
    account = await create_account(world.client, world.tenant, kind="sms", name="SMS line")
    unread = []
    for phone in ("+420601100115", "+420601100215"):
        unread.append(await _send(world, (await _conversation(world, account["id"], phone))["id"]))
    await run_sends(world.app)
    clock.advance(60)
    for _ in range(5):  # a pass a second, as the simulator's loop runs
        await run_simulator(world.app, now=clock.now())
    assert [(await _message(world, m["id"]))["status"] for m in unread] == ["delivered"] * 2
    newer = await _send(world, (await _conversation(world, account["id"], "+420601100310"))["id"])
    await run_sends(world.app)
    clock.advance(60)
    for _ in range(5):
        await run_simulator(world.app, now=clock.now())
    assert (await _message(world, newer["id"]))["status"] == "read"


async def test_a_conversation_without_a_phone_moves_on_to_read(
    world: World, clock: FrozenClock
) -> None:
    """A contact with no phone (email, web chat) follows the default script: delivered,
    then read."""
    account = await create_account(world.client, world.tenant, kind="email", name="Mail")
    contact = await world.client.post(
        "/v1/contacts", json={"name": "No phone"}, headers=world.tenant.headers
    )
    assert contact.status_code == 201, contact.text
    opened = await world.client.post(
        "/v1/conversations",
        json={"account_id": account["id"], "contact_id": contact.json()["id"]},
        headers=world.tenant.headers,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["client_phone"] is None
    sent = await _send(world, opened.json()["id"])
    await run_sends(world.app)
    for _ in range(3):
        clock.advance(3)
        await run_simulator(world.app, now=clock.now())
    assert (await _message(world, sent["id"]))["status"] == "read"
