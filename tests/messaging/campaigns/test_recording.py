"""What a sent campaign batch leaves behind, row by row: each message sent once with
its provider id, counted in its contact's conversation (a new one, or the one
already open), announced after commit; a status the provider reported before the
send was recorded is kept; a message the provider was too busy for is retried
under the same id until it goes out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select, update

from commbase.core.outbox import OutboxEvent
from commbase.core.time import utcnow
from commbase.messaging.campaigns.models import CampaignRecipient
from commbase.messaging.campaigns.outbound import Batch, SendOutcome, message_id_of
from commbase.messaging.campaigns.runner import CampaignRunner
from commbase.messaging.campaigns.sending import provider_sender
from commbase.messaging.models import Conversation, Message
from tests.identity.factories import make_tenant
from tests.messaging.campaigns.factories import add_contacts, make_account, runner_for


async def _start(client: httpx.AsyncClient, headers: dict[str, str], account: str) -> str:
    body = {
        "name": "Autumn sale",
        "account_id": account,
        "template_name": "autumn_sale",
        "template_parameters": ["30%"],
        "audience": {"kind": "labels", "labels": ["vip"]},
        "throttle_per_second": 1000,
        "start": True,
    }
    created = await client.post("/v1/campaigns", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _rows(app: FastAPI, model: Any, *criteria: Any) -> list[Any]:
    async with app.state.db.sessionmaker() as session:
        return list((await session.scalars(select(model).where(*criteria))).all())


async def test_sent_messages_count_in_their_conversations_and_are_announced(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    known, new = await add_contacts(app, tenant.org_id, ["+14155550301", "+14155550302"])
    earlier = utcnow() - timedelta(days=1)
    async with app.state.db.sessionmaker() as session:  # `known` already has a thread
        await session.execute(
            insert(Conversation).values(
                id="conv_known",
                org_id=tenant.org_id,
                account_id=account,
                contact_id=known,
                active_contact_key=known,
                channel="whatsapp",
                status="open",
                message_count=3,
                inbound_count=2,
                outbound_count=1,
                last_activity_at=earlier,
            )
        )
        await session.commit()
    campaign_id = await _start(client, tenant.headers, account)

    runner = runner_for(app)
    await runner.run_once()

    messages = {
        m.contact_id: m for m in await _rows(app, Message, Message.campaign_id == campaign_id)
    }
    assert set(messages) == {known, new}
    for message in messages.values():
        assert (message.status, message.attempts) == ("sent", 1)
        assert message.provider_message_id == f"sim.{message.id}"
        assert message.claimed_by is None
        assert message.sent_at is not None
    assert messages[known].conversation_id == "conv_known"
    conversations = {
        c.contact_id: c
        for c in await _rows(app, Conversation, Conversation.org_id == tenant.org_id)
    }
    assert len(conversations) == 2
    assert (conversations[known].message_count, conversations[known].outbound_count) == (4, 2)
    assert conversations[known].inbound_count == 2
    assert conversations[known].last_activity_at > earlier
    assert conversations[new].id == messages[new].conversation_id
    assert (conversations[new].message_count, conversations[new].outbound_count) == (1, 1)
    assert conversations[new].last_activity_at is not None

    recipients = await _rows(app, CampaignRecipient, CampaignRecipient.campaign_id == campaign_id)
    for recipient in recipients:
        assert (recipient.status, recipient.claimed_by, recipient.lease_until) == (
            "sent",
            None,
            None,
        )
        assert (
            recipient.message_id == message_id_of(recipient.id) == messages[recipient.contact_id].id
        )
        assert recipient.sent_at is not None

    events = await _rows(
        app,
        OutboxEvent,
        OutboxEvent.org_id == tenant.org_id,
        OutboxEvent.type.in_(["message.sent", "conversation.created"]),
    )
    sent = sorted((e.payload for e in events if e.type == "message.sent"), key=lambda p: p["id"])
    assert sent == sorted(
        (
            {
                "id": m.id,
                "conversation_id": m.conversation_id,
                "account_id": account,
                "contact_id": m.contact_id,
                "direction": "outbound",
                "author_role": "system",
                "content_type": "template",
                "status": "sent",
                "campaign_id": campaign_id,
                "error_code": None,
                "error_message": None,
            }
            for m in messages.values()
        ),
        key=lambda p: p["id"],
    )
    opened = [e.payload["id"] for e in events if e.type == "conversation.created"]
    assert opened == [conversations[new].id]


async def test_a_status_reported_before_the_send_is_recorded_is_kept(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    early, plain = await add_contacts(app, tenant.org_id, ["+14155550311", "+14155550312"])
    campaign_id = await _start(client, tenant.headers, account)
    real = provider_sender(server_secret=app.state.settings.secret_key.get_secret_value())

    async def send(batch: Batch) -> list[SendOutcome]:
        outcomes = await real(batch)
        # The provider's "delivered" for `early` is filed before the runner records.
        async with app.state.db.sessionmaker() as session:
            await session.execute(
                update(Message)
                .where(Message.contact_id == early, Message.campaign_id == campaign_id)
                .values(status="delivered", delivered_at=utcnow())
            )
            await session.commit()
        return outcomes

    await CampaignRunner(app.state.db, send, worker_id="early-runner").run_once()

    messages = {
        m.contact_id: m for m in await _rows(app, Message, Message.campaign_id == campaign_id)
    }
    assert (messages[early].status, messages[plain].status) == ("delivered", "sent")
    for message in messages.values():
        assert message.provider_message_id == f"sim.{message.id}"
        assert (message.attempts, message.claimed_by) == (1, None)
    assert messages[early].sent_at is None  # the report did not say when it was sent
    recipients = await _rows(app, CampaignRecipient, CampaignRecipient.campaign_id == campaign_id)
    assert {r.status for r in recipients} == {"sent"}
    events = await _rows(
        app, OutboxEvent, OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "message.sent"
    )
    assert {e.payload["contact_id"]: e.payload["status"] for e in events} == {
        early: "delivered",
        plain: "sent",
    }


async def test_a_busy_provider_is_retried_under_the_same_message(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    # ...16: the simulator is busy for the first two attempts.
    [busy] = await add_contacts(app, tenant.org_id, ["+14155550316"])
    campaign_id = await _start(client, tenant.headers, account)
    runner = runner_for(app)

    for attempt in (1, 2):
        await runner.run_once()
        [message] = await _rows(app, Message, Message.campaign_id == campaign_id)
        assert (message.status, message.attempts, message.error_code) == (
            "queued",
            attempt,
            "send_failed",
        )
        assert message.provider_message_id is None
        assert message.claimed_by is None
        [recipient] = await _rows(
            app, CampaignRecipient, CampaignRecipient.campaign_id == campaign_id
        )
        assert recipient.status == "queued"
        assert recipient.lease_until is not None
        assert recipient.lease_until > utcnow()
        async with app.state.db.sessionmaker() as session:  # the retry time has come
            await session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id == recipient.id)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
    await runner.run_once()

    [again] = await _rows(app, Message, Message.campaign_id == campaign_id)
    assert again.id == message.id == message_id_of(recipient.id)
    assert (again.status, again.attempts) == ("sent", 3)
    assert again.provider_message_id == f"sim.{again.id}"
    assert again.contact_id == busy
    [recipient] = await _rows(app, CampaignRecipient, CampaignRecipient.campaign_id == campaign_id)
    assert (recipient.status, recipient.claimed_by) == ("sent", None)
    [conversation] = await _rows(app, Conversation, Conversation.org_id == tenant.org_id)
    assert (conversation.message_count, conversation.outbound_count) == (1, 1)
