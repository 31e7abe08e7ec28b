"""Campaigns over HTTP: create, start, pause, resume, cancel; the audience with
opted-out, blocked and unreachable contacts skipped and counted; the runner sending
one message per recipient through the simulator at the throttle's pace; live
statistics read from the messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from commbase.analytics import calculations
from commbase.core.outbox import OutboxEvent
from commbase.core.time import utcnow
from commbase.messaging.campaigns.models import Campaign
from commbase.messaging.models import Message
from tests.identity.factories import make_tenant
from tests.messaging.campaigns.factories import add_contacts, make_account, opt_out, runner_for

TEMPLATE = {"template_name": "spring_sale", "template_parameters": ["Ana", "20%"]}


def _body(account_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "Spring sale",
        "account_id": account_id,
        **TEMPLATE,
        "audience": {"kind": "labels", "labels": ["vip"]},
        **fields,
    }


async def _events(app: FastAPI, org_id: str, event_type: str) -> list[dict[str, Any]]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload).where(
                OutboxEvent.org_id == org_id, OutboxEvent.type == event_type
            )
        )
        return list(rows.all())


async def _messages(app: FastAPI, campaign_id: str) -> list[Message]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)
        )
        return list(rows.all())


async def test_campaign_sends_one_message_per_reachable_recipient(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    # Six contacts with the label: one opted out, one blocked, one without a number;
    # ...13 is refused by the simulator, ...15 never read; one other contact lacks the label.
    ids = await add_contacts(
        app,
        tenant.org_id,
        ["+14155550101", "+14155550113", "+14155550115", "+14155550104", "+14155550105", None],
        blocked=[False, False, False, False, True, False],
    )
    await add_contacts(app, tenant.org_id, ["+14155550199"], labels=["other"])
    await opt_out(app, tenant.org_id, [ids[3]])

    created = await client.post("/v1/campaigns", json=_body(account), headers=tenant.headers)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft"
    assert campaign["recipients_total"] == 0

    started = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "running"
    assert started.json()["recipients_total"] == 3
    assert started.json()["skipped_opted_out"] == 1
    assert started.json()["skipped_other"] == 2  # blocked, no number
    [event] = await _events(app, tenant.org_id, "campaign.started")
    assert event["id"] == campaign["id"]
    assert event["recipients_total"] == 3

    again = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert again.status_code == 409

    runner = runner_for(app)
    for _ in range(5):
        await runner.run_once()
    done = (await client.get(f"/v1/campaigns/{campaign['id']}", headers=tenant.headers)).json()
    assert done["status"] == "completed"
    assert len(await _events(app, tenant.org_id, "campaign.completed")) == 1

    messages = await _messages(app, campaign["id"])
    assert sorted(str(m.contact_id) for m in messages) == sorted([ids[0], ids[1], ids[2]])
    by_contact = {m.contact_id: m for m in messages}
    assert by_contact[ids[0]].status == "sent"
    assert by_contact[ids[0]].template_name == "spring_sale"
    assert by_contact[ids[0]].template_parameters == ["Ana", "20%"]
    assert by_contact[ids[0]].provider_message_id == f"sim.{by_contact[ids[0]].id}"
    assert by_contact[ids[1]].status == "failed"  # refused by the provider: final
    assert by_contact[ids[1]].error_code == "sim_131026"

    # The provider reports: ...01 delivered, read and replied; ...15 delivered only.
    now = utcnow()
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Message)
            .where(Message.id == by_contact[ids[0]].id)
            .values(status="read", delivered_at=now, read_at=now, replied_at=now)
        )
        await session.execute(
            update(Message)
            .where(Message.id == by_contact[ids[2]].id)
            .values(status="delivered", delivered_at=now)
        )
        await session.commit()

    stats = (
        await client.get(f"/v1/campaigns/{campaign['id']}/stats", headers=tenant.headers)
    ).json()
    assert stats["funnel"] == {
        "recipients": 3,
        "queued": 0,
        "sent": 2,
        "delivered": 2,
        "read": 1,
        "replied": 1,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
        "skipped_opted_out": 1,
    }
    rates = {"deliveryRate": 100.0, "readRate": 50.0, "replyRate": 50.0, "failureRate": 33.33}
    assert stats["delivery_rate"] == rates["deliveryRate"]
    assert stats["read_rate"] == rates["readRate"]
    assert stats["reply_rate"] == rates["replyRate"]
    assert stats["failure_rate"] == rates["failureRate"]
    assert stats["score"] == round(0.30 * 100 + 0.25 * 50 + 0.30 * 50 + 0.15 * (100 - 33.33), 2)
    assert stats["score"] == calculations.campaign_score(rates)

    recipients = await client.get(
        f"/v1/campaigns/{campaign['id']}/recipients", headers=tenant.headers
    )
    statuses = {r["contact_id"]: r["status"] for r in recipients.json()["data"]}
    assert statuses == {ids[0]: "replied", ids[1]: "failed", ids[2]: "delivered"}
    replied = await client.get(
        f"/v1/campaigns/{campaign['id']}/recipients",
        params={"status": "replied", "limit": 1},
        headers=tenant.headers,
    )
    assert [r["contact_id"] for r in replied.json()["data"]] == [ids[0]]
    assert replied.json()["next_cursor"] is None
    page = await client.get(
        f"/v1/campaigns/{campaign['id']}/recipients", params={"limit": 2}, headers=tenant.headers
    )
    rest = await client.get(
        f"/v1/campaigns/{campaign['id']}/recipients",
        params={"limit": 2, "cursor": page.json()["next_cursor"]},
        headers=tenant.headers,
    )
    seen = [r["id"] for r in page.json()["data"] + rest.json()["data"]]
    assert len(seen) == len(set(seen)) == 3

    # Another organization cannot see it.
    other = await make_tenant(app)
    hidden = await client.get(f"/v1/campaigns/{campaign['id']}", headers=other.headers)
    assert hidden.status_code == 404
    listed = await client.get("/v1/campaigns", headers=other.headers)
    assert listed.json()["data"] == []


async def test_throttle_pause_resume_cancel_and_schedule(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    await add_contacts(app, tenant.org_id, [f"+1415555{n:04d}" for n in range(200, 206)])
    body = _body(account, throttle_per_second=2, start=True)
    campaign = (await client.post("/v1/campaigns", json=body, headers=tenant.headers)).json()
    assert campaign["status"] == "running"
    runner = runner_for(app)
    await runner.run_once()
    await runner.run_once()  # the throttle allows no second batch within the second
    assert len(await _messages(app, campaign["id"])) == 2

    paused = await client.post(f"/v1/campaigns/{campaign['id']}/pause", headers=tenant.headers)
    assert paused.json()["status"] == "paused"
    async with app.state.db.sessionmaker() as session:  # the pace would allow a batch now
        await session.execute(
            update(Campaign).where(Campaign.id == campaign["id"]).values(next_batch_at=None)
        )
        await session.commit()
    await runner.run_once()
    assert len(await _messages(app, campaign["id"])) == 2
    resumed = await client.post(f"/v1/campaigns/{campaign['id']}/resume", headers=tenant.headers)
    assert resumed.json()["status"] == "running"
    await runner.run_once()
    assert len(await _messages(app, campaign["id"])) == 4
    cancelled = await client.post(f"/v1/campaigns/{campaign['id']}/cancel", headers=tenant.headers)
    assert cancelled.json()["status"] == "cancelled"
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Campaign).where(Campaign.id == campaign["id"]).values(next_batch_at=None)
        )
        await session.commit()
    await runner.run_once()
    messages = await _messages(app, campaign["id"])
    assert len(messages) == 4
    # The two recipients still queued are cancelled, and the funnel adds up.
    funnel = (
        await client.get(f"/v1/campaigns/{campaign['id']}/stats", headers=tenant.headers)
    ).json()["funnel"]
    assert (funnel["recipients"], funnel["queued"], funnel["cancelled"]) == (6, 0, 2)
    parts = ("queued", "sent", "failed", "skipped", "cancelled")
    assert sum(funnel[k] for k in parts) == funnel["recipients"]
    listed = await client.get(
        f"/v1/campaigns/{campaign['id']}/recipients",
        params={"status": "cancelled"},
        headers=tenant.headers,
    )
    unsent = {r["contact_id"] for r in listed.json()["data"]}
    assert len(unsent) == 2
    assert unsent.isdisjoint({m.contact_id for m in messages})
    refused = await client.post(f"/v1/campaigns/{campaign['id']}/resume", headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")

    # Scheduled for later: nothing happens until its time.
    later = utcnow() + timedelta(hours=1)
    scheduled = (
        await client.post(
            "/v1/campaigns",
            json=_body(account, scheduled_at=later.isoformat()),
            headers=tenant.headers,
        )
    ).json()
    assert scheduled["status"] == "scheduled"
    assert await runner.start_due() == 0
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Campaign)
            .where(Campaign.id == scheduled["id"])
            .values(scheduled_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert await runner.start_due() == 1
    now_running = (
        await client.get(f"/v1/campaigns/{scheduled['id']}", headers=tenant.headers)
    ).json()
    assert now_running["status"] == "running"
    assert now_running["recipients_total"] == 6
    listed = await client.get("/v1/campaigns", params={"status": "running"}, headers=tenant.headers)
    assert [c["id"] for c in listed.json()["data"]] == [scheduled["id"]]


async def test_bad_campaigns_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    foreign_account = await make_account(app, other.org_id)
    account = await make_account(app, tenant.org_id)
    cases = [
        _body(foreign_account),
        _body(account, audience={"kind": "labels", "labels": []}),
        _body(account, audience={"kind": "contacts"}),
        _body(account, throttle_per_second=0),
        _body(account, template_name="Not A Template!"),
        _body(account, start=True, scheduled_at=utcnow().isoformat()),
    ]
    for body in cases:
        response = await client.post("/v1/campaigns", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
    async with app.state.db.sessionmaker() as session:
        assert await session.scalar(select(func.count(Campaign.id))) == 0
