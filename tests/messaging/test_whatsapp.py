"""The WhatsApp Cloud API: the webhook handshake, signed notifications in the API's real
shapes (tampered ones refused), inbound messages opening conversations once, statuses
that only move forward, the 24-hour window, and sending over httpx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from commbase.messaging import intake
from commbase.messaging.models import ChannelAccount, Conversation, Message, WhatsAppNotification
from commbase.messaging.providers.whatsapp import sign
from tests.messaging.conftest import World
from tests.messaging.factories import (
    ACCESS_TOKEN,
    APP_SECRET,
    notification,
    post_signed,
    run_sends,
    status_update,
    text_message,
    whatsapp_account,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


async def deliver(world: World, payload: dict[str, Any]) -> httpx.Response:
    """Post a signed notification, then file what the webhook stored (as the intake
    runner does after commit)."""
    response = await post_signed(world.client, payload)
    await intake.file_all(world.app.state.db)
    return response


async def _count(world: World, model: Any, *where: Any) -> int:
    async with world.app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_handshake_echoes_the_challenge_for_a_known_verify_token(world: World) -> None:
    await whatsapp_account(world.client, world.tenant, "1000001")
    params = {"hub.mode": "subscribe", "hub.verify_token": "verify-1000001", "hub.challenge": "42x"}
    ok = await world.client.get("/v1/providers/whatsapp/webhook", params=params)
    assert ok.status_code == 200
    assert ok.text == "42x"
    params["hub.verify_token"] = "not-a-token-we-know"
    refused = await world.client.get("/v1/providers/whatsapp/webhook", params=params)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_the_app_secret_and_token_are_stored_encrypted(world: World) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000002")
    assert account["has_app_secret"]
    assert account["has_access_token"]
    assert "app_secret" not in account
    assert "access_token" not in account
    async with world.app.state.db.sessionmaker() as session:
        row = await session.get(ChannelAccount, account["id"])
        assert row is not None
        assert row.app_secret_encrypted
        assert row.access_token_encrypted
        assert APP_SECRET not in row.app_secret_encrypted
        assert ACCESS_TOKEN not in row.access_token_encrypted


async def test_a_signed_message_opens_a_conversation_once_and_a_tampered_one_is_refused(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000003")
    payload = text_message(
        "1000003", wa_id="420601555003", wamid="wamid.HBgL003", body="Hello, is it open?", at=T0
    )
    tampered = json.loads(json.dumps(payload))
    tampered["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "Send money"
    body = json.dumps(payload).encode()
    refused = await world.client.post(
        "/v1/providers/whatsapp/webhook",
        content=json.dumps(tampered).encode(),
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    assert refused.status_code == 403
    unsigned = await world.client.post("/v1/providers/whatsapp/webhook", json=payload)
    assert unsigned.status_code == 403
    assert await _count(world, Message, Message.account_id == account["id"]) == 0

    for _ in range(2):  # Meta delivers the same notification twice
        assert (await deliver(world, payload)).status_code == 200
    assert await _count(world, Message, Message.account_id == account["id"]) == 1
    conversations = await world.client.get(
        "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
    )
    [conversation] = conversations.json()["data"]
    assert conversation["status"] == "open"
    assert conversation["client_phone"] == "+420601555003"
    assert conversation["client_name"] == "Kerry"
    assert conversation["first_inbound_at"] == "2026-11-20T09:00:00Z"
    contact = await world.client.get(
        f"/v1/contacts/{conversation['contact_id']}", headers=world.tenant.headers
    )
    assert contact.json()["phone"] == "+420601555003"
    messages = await world.client.get(
        f"/v1/conversations/{conversation['id']}/messages", headers=world.tenant.headers
    )
    [message] = messages.json()["data"]
    assert message["direction"] == "inbound"
    assert message["author_role"] == "user"
    assert message["body"] == "Hello, is it open?"
    received = await _count(
        world,
        OutboxEvent,
        OutboxEvent.type == "message.received",
        OutboxEvent.org_id == world.tenant.org_id,
    )
    assert received >= 1
    # The other organization cannot see it.
    hidden = await world.client.get(
        f"/v1/conversations/{conversation['id']}", headers=world.other.headers
    )
    assert hidden.status_code == 404


def _graph(sent: list[httpx.Request], answers: list[httpx.Response]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    return httpx.MockTransport(handle)


def _accepted(wamid: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "420601555004", "wa_id": "420601555004"}],
            "messages": [{"id": wamid}],
        },
    )


async def test_send_over_the_cloud_api_then_statuses_out_of_order_end_in_one_state(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000004")
    inbound = text_message("1000004", wa_id="420601555004", wamid="wamid.in004", body="Hi", at=T0)
    await deliver(world, inbound)
    [conversation] = (
        await world.client.get(
            "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
        )
    ).json()["data"]
    sent: list[httpx.Request] = []
    answers = [httpx.Response(503, json={}), _accepted("wamid.out004")]
    world.app.state.job_services["whatsapp_transport"] = _graph(sent, answers)
    clock.advance(60)
    queued = await world.client.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"body": "We open at 9."},
        headers={**world.tenant.headers, "Idempotency-Key": "send-004"},
    )
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"
    message_id = queued.json()["id"]
    await run_sends(world.app)  # 503: retried later
    clock.advance(3)
    await run_sends(world.app)
    assert len(sent) == 2
    request = sent[-1]
    assert request.url.path == "/v21.0/1000004/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "420601555004",
        "type": "text",
        "text": {"preview_url": False, "body": "We open at 9."},
    }
    message = (
        await world.client.get(f"/v1/messages/{message_id}", headers=world.tenant.headers)
    ).json()
    assert message["status"] == "sent"
    assert message["provider_message_id"] == "wamid.out004"
    assert message["attempts"] == 2

    def report(status: str, seconds: int, **extra: Any) -> dict[str, Any]:
        return status_update(
            "1000004",
            wamid="wamid.out004",
            status=status,
            at=T0 + timedelta(seconds=seconds),
            wa_id="420601555004",
            **extra,
        )

    failure = {"errors": [{"code": 131026, "title": "Message undeliverable"}]}
    for payload in (
        report("read", 90),
        report("delivered", 80),
        report("read", 90),
        report("sent", 70),
        report("failed", 95, **failure),
    ):
        assert (await deliver(world, payload)).status_code == 200
    final = (
        await world.client.get(f"/v1/messages/{message_id}", headers=world.tenant.headers)
    ).json()
    assert final["status"] == "read"
    assert final["read_at"] == "2026-11-20T09:01:30Z"
    assert final["delivered_at"] == "2026-11-20T09:01:30Z"  # implied by read
    assert final["failed_at"] is None
    assert final["error_code"] is None
    # The same key again: the same message, nothing new queued.
    again = await world.client.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"body": "We open at 9."},
        headers={**world.tenant.headers, "Idempotency-Key": "send-004"},
    )
    assert again.json()["id"] == message_id
    assert await _count(world, Message, Message.conversation_id == conversation["id"]) == 2


async def test_a_refusal_fails_the_message_with_metas_code(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000005")
    await deliver(
        world,
        text_message("1000005", wa_id="420601555005", wamid="wamid.in005", body="Hi", at=T0),
    )
    [conversation] = (
        await world.client.get(
            "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
        )
    ).json()["data"]
    error = {
        "error": {
            "message": "(#131047) Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "fbtrace_id": "AbCdEf",
        }
    }
    sent: list[httpx.Request] = []
    world.app.state.job_services["whatsapp_transport"] = _graph(
        sent, [httpx.Response(400, json=error)]
    )
    queued = await world.client.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"body": "Still there?"},
        headers=world.tenant.headers,
    )
    await run_sends(world.app)
    message = (
        await world.client.get(f"/v1/messages/{queued.json()['id']}", headers=world.tenant.headers)
    ).json()
    assert message["status"] == "failed"
    assert message["error_code"] == "131047"
    assert message["error_message"] == "(#131047) Re-engagement message"
    assert len(sent) == 1


async def test_free_form_text_only_within_24_hours_of_the_contacts_last_message(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000006")
    await deliver(
        world,
        text_message("1000006", wa_id="420601555006", wamid="wamid.in006", body="Hi", at=T0),
    )
    [conversation] = (
        await world.client.get(
            "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
        )
    ).json()["data"]
    url = f"/v1/conversations/{conversation['id']}/messages"
    clock.set(T0 + timedelta(hours=23, minutes=59))
    inside = await world.client.post(url, json={"body": "Yes"}, headers=world.tenant.headers)
    assert inside.status_code == 202, inside.text
    clock.set(T0 + timedelta(hours=24, minutes=1))
    outside = await world.client.post(url, json={"body": "Hello?"}, headers=world.tenant.headers)
    assert outside.status_code == 422
    problem = outside.json()
    assert problem["errors"][0]["field"] == "content_type"
    assert "24 hours" in problem["detail"]
    assert "template" in problem["detail"]
    template = await world.client.post(
        url,
        json={
            "content_type": "template",
            "template_name": "order_update",
            "template_language": "en_US",
            "template_parameters": ["A-1001"],
        },
        headers=world.tenant.headers,
    )
    assert template.status_code == 202, template.text
    # A new message from the contact opens the window again.
    await deliver(
        world,
        text_message(
            "1000006",
            wa_id="420601555006",
            wamid="wamid.in006b",
            body="Back",
            at=T0 + timedelta(hours=24, minutes=2),
        ),
    )
    reopened = await world.client.post(url, json={"body": "Hi again"}, headers=world.tenant.headers)
    assert reopened.status_code == 202
    async with world.app.state.db.sessionmaker() as session:
        stored = await session.get(Conversation, conversation["id"])
        assert stored is not None
        assert stored.inbound_count == 2


async def test_a_send_that_keeps_failing_gives_up_with_the_reason(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000007")
    await deliver(
        world,
        text_message("1000007", wa_id="420601555007", wamid="wamid.in007", body="Hi", at=T0),
    )
    [conversation] = (
        await world.client.get(
            "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
        )
    ).json()["data"]
    sent: list[httpx.Request] = []
    world.app.state.job_services["whatsapp_transport"] = _graph(
        sent, [httpx.Response(500, json={}) for _ in range(10)]
    )
    queued = await world.client.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"body": "Are you there?"},
        headers=world.tenant.headers,
    )
    for _ in range(8):
        await run_sends(world.app)
        clock.advance(601)
    message = (
        await world.client.get(f"/v1/messages/{queued.json()['id']}", headers=world.tenant.headers)
    ).json()
    assert message["status"] == "failed"
    assert message["error_code"] == "send_failed"
    assert "whatsapp answered 500" in message["error_message"]
    assert len(sent) == 6  # the first attempt and five retries


async def test_media_location_and_button_replies_in_one_notification(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000008")
    at = str(int(T0.timestamp()))
    sender = "420601555008"
    payload = notification(
        "1000008",
        contacts=[{"profile": {"name": "Petra"}, "wa_id": sender}],
        messages=[
            {
                "from": sender,
                "id": "wamid.img008",
                "timestamp": at,
                "type": "image",
                "image": {
                    "caption": "The broken part",
                    "mime_type": "image/jpeg",
                    "sha256": "c2hh",
                    "id": "1234567890",
                },
            },
            {
                "from": sender,
                "id": "wamid.loc008",
                "timestamp": at,
                "type": "location",
                "location": {"latitude": 50.08, "longitude": 14.42, "name": "Shop"},
            },
            {
                "from": sender,
                "id": "wamid.btn008",
                "timestamp": at,
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "yes-book", "title": "Book it"},
                },
                "context": {"from": "15550100000", "id": "wamid.unknown"},
            },
        ],
    )
    assert (await deliver(world, payload)).status_code == 200
    [conversation] = (
        await world.client.get(
            "/v1/conversations", params={"account_id": account["id"]}, headers=world.tenant.headers
        )
    ).json()["data"]
    messages = (
        await world.client.get(
            f"/v1/conversations/{conversation['id']}/messages", headers=world.tenant.headers
        )
    ).json()["data"]
    by_id = {m["provider_message_id"]: m for m in messages}
    image = by_id["wamid.img008"]
    assert (image["content_type"], image["body"], image["media_type"]) == (
        "media",
        "The broken part",
        "image/jpeg",
    )
    assert image["metadata"]["media_id"] == "1234567890"
    location = by_id["wamid.loc008"]
    assert location["content_type"] == "location"
    assert location["metadata"]["location"]["name"] == "Shop"
    button = by_id["wamid.btn008"]
    assert (button["content_type"], button["body"]) == ("interactive", "Book it")
    assert button["reply_to_message_id"] is None  # replies to nothing we sent
    assert conversation["inbound_count"] == 3


async def test_a_notification_for_no_known_number_is_refused(world: World) -> None:
    payload = text_message("9999999", wa_id="420601555009", wamid="wamid.x009", body="Hi", at=T0)
    response = await deliver(world, payload)
    assert response.status_code == 403
    not_whatsapp = await world.client.post(
        "/v1/providers/whatsapp/webhook",
        content=b'{"object": "page"}',
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"},
    )
    assert not_whatsapp.status_code == 403


async def test_the_same_notification_eight_times_at_once_is_stored_once(world: World) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000010")
    payload = text_message("1000010", wa_id="420601555010", wamid="wamid.dup010", body="x", at=T0)
    answers = await asyncio.gather(*(post_signed(world.client, payload) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    # Kept once while it waits; the same message in a body spelled differently is a
    # second notification, and both are filed by runners working at once.
    waiting = WhatsAppNotification.account_id == account["id"]
    assert await _count(world, WhatsAppNotification, waiting) == 1
    respelled = json.loads(json.dumps(payload))
    respelled["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "K."
    assert (await post_signed(world.client, respelled)).status_code == 200
    assert await _count(world, WhatsAppNotification, waiting) == 2
    await asyncio.gather(*(intake.file_due(world.app.state.db, limit=1) for _ in range(4)))
    await intake.file_all(world.app.state.db)
    assert await _count(world, WhatsAppNotification, waiting) == 0
    assert await _count(world, Message, Message.account_id == account["id"]) == 1
    assert await _count(world, Conversation, Conversation.account_id == account["id"]) == 1
    async with world.app.state.db.sessionmaker() as session:
        [conversation] = await session.scalars(
            select(Conversation).where(Conversation.account_id == account["id"])
        )
        assert (conversation.message_count, conversation.inbound_count) == (1, 1)


async def test_the_webhook_answers_before_filing_and_a_bad_notification_holds_back_only_itself(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000011")
    good = text_message("1000011", wa_id="420601555011", wamid="wamid.ok011", body="Hi", at=T0)
    # Valid JSON that Meta would never send: the message's text is a number, so
    # filing it fails (the webhook only checks the envelope and the signature).
    bad = text_message("1000011", wa_id="420601555012", wamid="wamid.bad011", body="x", at=T0)
    bad["entry"][0]["changes"][0]["value"]["messages"][0]["text"] = {"body": {"not": "text"}}
    assert (await post_signed(world.client, bad)).status_code == 200
    assert (await post_signed(world.client, good)).status_code == 200
    # Answered, not filed yet: nothing is visible until the runner files it.
    assert await _count(world, Message, Message.account_id == account["id"]) == 0
    assert await intake.file_all(world.app.state.db) == 2
    assert await _count(world, Message, Message.account_id == account["id"]) == 1
    async with world.app.state.db.sessionmaker() as session:
        [kept] = await session.scalars(
            select(WhatsAppNotification).where(WhatsAppNotification.account_id == account["id"])
        )
        assert kept.attempts == 1
        assert kept.last_error
        assert kept.failed_at is None
    # Retried with backoff, then kept for an operator once it has failed every time.
    for _ in range(intake.MAX_ATTEMPTS):
        clock.advance(3601)
        await intake.file_all(world.app.state.db)
    async with world.app.state.db.sessionmaker() as session:
        [kept] = await session.scalars(
            select(WhatsAppNotification).where(WhatsAppNotification.account_id == account["id"])
        )
        assert kept.attempts == intake.MAX_ATTEMPTS
        assert kept.failed_at is not None


async def test_inbound_media_is_fetched_from_the_graph_api_and_streamed_through(
    world: World, clock: FrozenClock
) -> None:
    account = await whatsapp_account(world.client, world.tenant, "1000012")
    sender = "420601555012"
    payload = notification(
        "1000012",
        contacts=[{"profile": {"name": "Ivo"}, "wa_id": sender}],
        messages=[
            {
                "from": sender,
                "id": "wamid.img012",
                "timestamp": str(int(T0.timestamp())),
                "type": "image",
                "image": {
                    "caption": "Receipt",
                    "mime_type": "image/jpeg",
                    "sha256": "b1946ac92492d2347c6235b4d2611184",
                    "id": "5550012",
                },
            },
            {
                "from": sender,
                "id": "wamid.txt012",
                "timestamp": str(int(T0.timestamp())),
                "type": "text",
                "text": {"body": "Did you get it?"},
            },
        ],
    )
    assert (await deliver(world, payload)).status_code == 200
    async with world.app.state.db.sessionmaker() as session:
        rows = {
            m.provider_message_id: m.id
            for m in await session.scalars(
                select(Message).where(Message.account_id == account["id"])
            )
        }
    image_url = f"/v1/messages/{rows['wamid.img012']}/media"
    photo = bytes(range(256)) * 300
    file_url = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=5550012&ext=1&hash=x"
    sent: list[httpx.Request] = []

    def graph(size: int = len(photo), found: bool = True) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            if request.url.host == "graph.facebook.com":
                if not found:
                    return httpx.Response(
                        404, json={"error": {"message": "Unsupported get request", "code": 100}}
                    )
                return httpx.Response(
                    200,
                    json={
                        "messaging_product": "whatsapp",
                        "url": file_url,
                        "mime_type": "image/jpeg",
                        "sha256": "b1946ac92492d2347c6235b4d2611184",
                        "file_size": size,
                        "id": "5550012",
                    },
                )
            return httpx.Response(200, content=photo, headers={"Content-Type": "image/jpeg"})

        return httpx.MockTransport(handle)

    world.app.state.job_services["whatsapp_transport"] = graph()
    try:
        got = await world.client.get(image_url, headers=world.tenant.headers)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "image/jpeg"
        assert got.content == photo
        assert [str(r.url) for r in sent] == [
            "https://graph.facebook.com/v21.0/5550012",
            file_url,
        ]
        assert all(r.headers["authorization"] == f"Bearer {ACCESS_TOKEN}" for r in sent)
        # Another organization, a message without media: not found, nothing fetched.
        sent.clear()
        hidden = await world.client.get(image_url, headers=world.other.headers)
        assert hidden.status_code == 404
        text_url = f"/v1/messages/{rows['wamid.txt012']}/media"
        assert (await world.client.get(text_url, headers=world.tenant.headers)).status_code == 404
        assert sent == []
        # Larger than the cap Meta declares: refused before downloading.
        world.app.state.job_services["whatsapp_transport"] = graph(size=26 * 1024 * 1024)
        large = await world.client.get(image_url, headers=world.tenant.headers)
        assert large.status_code == 409
        assert large.headers["content-type"].startswith("application/problem+json")
        assert [r.url.host for r in sent] == ["graph.facebook.com"]
        # Meta no longer has it (media expire after 30 days).
        world.app.state.job_services["whatsapp_transport"] = graph(found=False)
        gone = await world.client.get(image_url, headers=world.tenant.headers)
        assert gone.status_code == 404
    finally:
        world.app.state.job_services.pop("whatsapp_transport", None)
