"""Seed 001's must-show: a day of messaging activity, and the daily snapshot's
``messages``, ``campaigns``, ``contacts`` and ``conversations`` sections compared with
the seed's JSON key by key -- organization-wide and for one channel account -- each
value computed here, independently, from the records the test wrote."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from commbase.analytics import snapshots
from commbase.analytics.enums import SnapshotType
from commbase.contacts.models import Contact
from commbase.messaging.campaigns.models import Campaign
from commbase.messaging.models import Conversation, Message
from tests.identity.factories import make_tenant
from tests.messaging.campaigns.factories import make_account

DAY = datetime(2026, 11, 20, tzinfo=UTC)
# Seed 001's metrics JSON, its four messaging sections: every key, in its order.
SEED_KEYS = {
    "messages": [
        "total", "sent", "delivered", "read", "failed", "replied", "inbound", "outbound",
        "deliveryRate", "readRate", "replyRate", "failureRate",
    ],
    "campaigns": [
        "total", "active", "completed", "failed", "totalRecipients", "messagesSent",
        "avgDeliveryRate", "avgReadRate",
    ],
    "contacts": ["total", "new", "active", "blocked", "avgEngagementScore"],
    "conversations": ["total", "open", "closed", "avgResponseTime"],
}  # fmt: skip


def pct(part: float, whole: float) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


@dataclass
class Msg:
    account: str
    contact: str
    conversation: str
    at: datetime
    outbound: bool
    status: str
    replied: bool
    campaign: str | None


@dataclass
class Conv:
    id: str
    account: str
    contact: str
    at: datetime
    status: str
    response_s: int | None


@dataclass
class Camp:
    account: str
    at: datetime
    status: str
    recipients: int


@dataclass
class Cnt:
    id: str
    at: datetime
    blocked: bool


def _moment(rng: random.Random, day_offset: int) -> datetime:
    return DAY + timedelta(days=day_offset, seconds=rng.randrange(86_400))


async def _build(app: FastAPI, org_id: str, accounts: list[str]) -> dict[str, list[Any]]:
    rng = random.Random(1)
    contacts = [
        Cnt(f"cnt_t{i:024d}", _moment(rng, rng.choice([-3, -1, 0, 0, 1])), rng.random() < 0.15)
        for i in range(40)
    ]
    conversations: list[Conv] = []
    messages: list[Msg] = []
    campaigns: list[Camp] = []
    for i in range(30):
        contact = rng.choice(contacts)
        conversations.append(
            Conv(
                f"conv_t{i:024d}",
                rng.choice(accounts),
                contact.id,
                _moment(rng, rng.choice([-1, 0, 0, 0, 1])),
                rng.choice(["open", "pending", "snoozed", "resolved", "resolved"]),
                rng.choice([None, 30, 75, 600, 1234]),
            )
        )
    for _ in range(12):
        campaigns.append(
            Camp(
                rng.choice(accounts),
                _moment(rng, rng.choice([-1, 0, 0, 1])),
                rng.choice(
                    ["draft", "scheduled", "running", "paused", "completed", "failed", "cancelled"]
                ),
                rng.randrange(0, 500),
            )
        )
    for _ in range(300):
        conversation = rng.choice(conversations)
        outbound = rng.random() < 0.65
        status = (
            rng.choice(["queued", "sent", "delivered", "read", "read", "failed"])
            if outbound
            else "read"
        )
        messages.append(
            Msg(
                conversation.account,
                conversation.contact,
                conversation.id,
                _moment(rng, rng.choice([-1, 0, 0, 0, 0, 1])),
                outbound,
                status,
                outbound and status in ("sent", "delivered", "read") and rng.random() < 0.3,
                rng.choice([None, None, "cmp_t1", "cmp_t2"]) if outbound else None,
            )
        )
    async with app.state.db.sessionmaker() as session:
        for c in contacts:
            session.add(
                Contact(
                    id=c.id, org_id=org_id, name="C", blocked=c.blocked, created_at=c.at,
                    updated_at=c.at,
                )
            )  # fmt: skip
        for v in conversations:
            session.add(
                Conversation(
                    id=v.id, org_id=org_id, account_id=v.account, contact_id=v.contact,
                    channel="whatsapp", status=v.status, first_response_seconds=v.response_s,
                    created_at=v.at, updated_at=v.at,
                )
            )  # fmt: skip
        for p in campaigns:
            session.add(
                Campaign(
                    org_id=org_id, account_id=p.account, name="P", template_name="t",
                    status=p.status, recipients_total=p.recipients, created_at=p.at,
                    updated_at=p.at,
                )
            )  # fmt: skip
        for m in messages:
            session.add(
                Message(
                    org_id=org_id, account_id=m.account, conversation_id=m.conversation,
                    contact_id=m.contact, direction="outbound" if m.outbound else "inbound",
                    author_role="agent" if m.outbound else "user", status=m.status,
                    replied_at=m.at + timedelta(minutes=5) if m.replied else None,
                    campaign_id=m.campaign, created_at=m.at, updated_at=m.at,
                )
            )  # fmt: skip
        await session.commit()
    return {"contacts": contacts, "conversations": conversations, "campaigns": campaigns,
            "messages": messages}  # fmt: skip


def _expected(data: dict[str, list[Any]], account: str | None) -> dict[str, dict[str, Any]]:
    start, end = DAY, DAY + timedelta(days=1)

    def mine(row: Any) -> bool:
        return start <= row.at < end and (account is None or row.account == account)

    msgs = [m for m in data["messages"] if mine(m)]
    outbound = [m for m in msgs if m.outbound]
    sent = [m for m in outbound if m.status in ("sent", "delivered", "read")]
    delivered = [m for m in outbound if m.status in ("delivered", "read")]
    read = [m for m in outbound if m.status == "read"]
    failed = [m for m in msgs if m.status == "failed"]
    replied = [m for m in outbound if m.replied]
    camp = [c for c in data["campaigns"] if mine(c)]
    camp_msgs = [m for m in msgs if m.campaign is not None]
    camp_sent = [m for m in camp_msgs if m.status in ("sent", "delivered", "read")]
    camp_delivered = [m for m in camp_msgs if m.status in ("delivered", "read")]
    camp_read = [m for m in camp_msgs if m.status == "read"]
    convs = [v for v in data["conversations"] if mine(v)]
    answered = [v.response_s for v in convs if v.response_s is not None]
    scores = [20 + (40 if m.status == "read" else 0) + (40 if m.replied else 0) for m in delivered]
    expected: dict[str, dict[str, Any]] = {
        "messages": {
            "total": len(msgs),
            "sent": len(sent),
            "delivered": len(delivered),
            "read": len(read),
            "failed": len(failed),
            "replied": len(replied),
            "inbound": len(msgs) - len(outbound),
            "outbound": len(outbound),
            "deliveryRate": pct(len(delivered), len(sent)),
            "readRate": pct(len(read), len(delivered)),
            "replyRate": pct(len(replied), len(sent)),
            "failureRate": pct(len(failed), len(msgs)),
        },
        "campaigns": {
            "total": len(camp),
            "active": sum(c.status in ("scheduled", "running", "paused") for c in camp),
            "completed": sum(c.status == "completed" for c in camp),
            "failed": sum(c.status == "failed" for c in camp),
            "totalRecipients": sum(c.recipients for c in camp),
            "messagesSent": len(camp_sent),
            "avgDeliveryRate": pct(len(camp_delivered), len(camp_sent)),
            "avgReadRate": pct(len(camp_read), len(camp_delivered)),
        },
        "contacts": {
            "active": len({m.contact for m in msgs if not m.outbound}),
            "avgEngagementScore": round(sum(scores) / len(scores), 4) if scores else 0,
        },
        "conversations": {
            "total": len(convs),
            "open": sum(v.status != "resolved" for v in convs),
            "closed": sum(v.status == "resolved" for v in convs),
            "avgResponseTime": round(sum(answered) / len(answered), 4) if answered else 0,
        },
    }
    contacts = data["contacts"]
    if account is not None:
        # One account's contacts: those with a conversation on it; new ones had their
        # first conversation on it in the period.
        blocked = {c.id for c in contacts if c.blocked}
        first: dict[str, datetime] = {}
        for v in data["conversations"]:
            if v.account == account:
                first[v.contact] = min(first.get(v.contact, v.at), v.at)
        expected["contacts"] = {
            "total": sum(at < end for at in first.values()),
            "new": sum(start <= at < end for at in first.values()),
            "active": expected["contacts"]["active"],
            "blocked": sum(at < end and contact in blocked for contact, at in first.items()),
            "avgEngagementScore": expected["contacts"]["avgEngagementScore"],
        }
        return expected
    expected["contacts"] = {
        "total": sum(c.at < end for c in contacts),
        "new": sum(start <= c.at < end for c in contacts),
        "active": expected["contacts"]["active"],
        "blocked": sum(c.at < end and c.blocked for c in contacts),
        "avgEngagementScore": expected["contacts"]["avgEngagementScore"],
    }
    return expected


async def test_daily_snapshot_has_seed_001_sections(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    accounts = [await make_account(app, tenant.org_id, name=f"Line {n}") for n in (1, 2)]
    data = await _build(app, tenant.org_id, accounts)

    for account in (None, accounts[0]):
        body: dict[str, Any] = {"type": "daily", "date": DAY.date().isoformat()}
        if account is not None:
            body["account_id"] = account
        response = await client.post("/v1/analytics/snapshots", json=body, headers=tenant.headers)
        assert response.status_code in (200, 201), response.text
        metrics = response.json()["metrics"]
        expected = _expected(data, account)
        for section, keys in SEED_KEYS.items():
            assert sorted(metrics[section]) == sorted(keys), (account, section)  # JSONB reorders
            for key in keys:
                assert metrics[section][key] == expected[section][key], (account, section, key)
        assert expected["messages"]["total"] > 50
        assert expected["contacts"]["new"] > 0
        assert expected["messages"]["replied"] > 0
        assert expected["campaigns"]["total"] > 0

    # Today so far, for one account, and the dashboard: the same four sections.
    now = datetime.now(UTC)
    async with app.state.db.sessionmaker() as session:
        session.add(
            Message(
                org_id=tenant.org_id, account_id=accounts[1], conversation_id=data[
                    "conversations"][0].id, direction="inbound", author_role="user",
                status="read", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await session.commit()
    for account, inbound in ((accounts[1], 1), (accounts[0], 0)):
        live = await client.get(
            "/v1/analytics/realtime", params={"account_id": account}, headers=tenant.headers
        )
        assert live.status_code == 200, live.text
        assert live.json()["messages"]["inbound"] == inbound
        assert live.json()["messages"]["total"] == inbound
        assert set(live.json()["campaigns"]) == set(SEED_KEYS["campaigns"])
        assert set(live.json()["conversations"]) == set(SEED_KEYS["conversations"])
    dashboard = (
        await client.get("/v1/analytics/dashboard", params={"days": 30}, headers=tenant.headers)
    ).json()
    for part in ("current", "previous", "growth"):
        for section, keys in SEED_KEYS.items():
            assert set(dashboard[part][section]) == set(keys), (part, section)


async def test_the_daily_job_writes_one_snapshot_per_active_channel_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    active, idle = [await make_account(app, tenant.org_id, name=n) for n in ("On", "Off")]
    async with app.state.db.sessionmaker() as session:
        conversation = Conversation(
            org_id=tenant.org_id, account_id=active, contact_id="cnt_x", channel="whatsapp",
            created_at=DAY, updated_at=DAY,
        )  # fmt: skip
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                org_id=tenant.org_id, account_id=active, conversation_id=conversation.id,
                direction="inbound", author_role="user", status="read",
                created_at=DAY + timedelta(hours=1), updated_at=DAY + timedelta(hours=1),
            )
        )  # fmt: skip
        await session.commit()
    written = await snapshots.run_due(
        app.state.db.sessionmaker,
        SnapshotType.DAILY,
        DAY + timedelta(days=1, hours=3),
        org_id=tenant.org_id,
    )
    assert written == 2  # the organization's and the active account's
    listed = await client.get(
        "/v1/analytics/snapshots",
        params={
            "type": "daily",
            "account_id": active,
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-30T00:00:00Z",
        },
        headers=tenant.headers,
    )
    assert listed.status_code == 200, listed.text
    [snapshot] = listed.json()["data"]
    assert snapshot["metrics"]["messages"]["inbound"] == 1
    assert snapshot["metrics"]["conversations"]["total"] == 1
    none = await client.get(
        "/v1/analytics/snapshots",
        params={
            "type": "daily",
            "account_id": idle,
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-30T00:00:00Z",
        },
        headers=tenant.headers,
    )
    assert none.json()["data"] == []


async def test_daily_snapshot_has_seed_004_interactions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    sms = await make_account(app, tenant.org_id, kind="sms", name="Texts")
    rows = [  # (status, sentiment, score, escalated, first response s, day offset)
        ("resolved", "positive", 0.8, False, 30, 0),
        ("resolved", "negative", -0.6, True, 90, 0),
        ("open", "neutral", 0.1, False, None, 0),
        ("pending", "positive", 0.5, True, 45, 0),
        ("resolved", None, None, False, 10, 0),
        ("resolved", "negative", -0.9, True, 20, 1),  # the next day: not counted
    ]
    # Messages: (account, direction, status, metadata.tokens_used, day offset).
    sms_rows = [
        (sms, "outbound", "sent", 120, 0),
        (sms, "outbound", "delivered", None, 0),
        (sms, "outbound", "read", 30, 0),
        (sms, "outbound", "failed", 7, 0),  # not sent
        (sms, "outbound", "queued", None, 0),  # not sent yet
        (sms, "inbound", "delivered", 5, 0),  # the contact's
        (account, "outbound", "sent", 1000, 0),  # WhatsApp, not SMS
        (sms, "outbound", "sent", 9999, 1),  # the next day
    ]
    resolved_at: dict[int, float] = {}
    async with app.state.db.sessionmaker() as session:
        for n, (status, sentiment, score, escalated, first_s, offset) in enumerate(rows):
            at = DAY + timedelta(days=offset, hours=n)
            end = at + timedelta(seconds=600 * (n + 1)) if status == "resolved" else None
            if end is not None:
                resolved_at[n] = (end - at).total_seconds()
            conversation = Conversation(
                org_id=tenant.org_id, account_id=account, contact_id=f"cnt_{n}",
                channel="whatsapp", status=status, sentiment=sentiment,
                sentiment_score=score, escalated_to_human=escalated,
                first_response_seconds=first_s, resolved_at=end,
                resolution_seconds=int(resolved_at[n]) if end else None,
                created_at=at, updated_at=at,
            )  # fmt: skip
            session.add(conversation)
        await session.flush()
        for n, (on, direction, message_status, tokens, offset) in enumerate(sms_rows):
            at = DAY + timedelta(days=offset, hours=n)
            session.add(
                Message(
                    org_id=tenant.org_id, account_id=on, conversation_id=conversation.id,
                    direction=direction, status=message_status, body="hi",
                    metadata_={} if tokens is None else {"tokens_used": tokens},
                    created_at=at, updated_at=at,
                )
            )  # fmt: skip
        await session.commit()
    day = [r for r in rows if r[5] == 0]
    scores = [r[2] for r in day if r[2] is not None]
    responses = [r[4] for r in day if r[4] is not None]
    expected = {
        "totalConversations": len(day),
        "chatConversations": len(day),
        "voiceConversations": 0,
        "avgResponseTime": round(sum(responses) / len(responses), 4),
        "resolutionRate": round(sum(r[0] == "resolved" for r in day) / len(day), 2),
        "escalationRate": round(sum(r[3] for r in day) / len(day), 2),
        "avgSentiment": round(sum(scores) / len(scores), 4),
        "positiveInteractions": sum(r[1] == "positive" for r in day),
        "negativeInteractions": sum(r[1] == "negative" for r in day),
        "avgConversationDuration": round(
            sum(v for n, v in resolved_at.items() if rows[n][5] == 0)
            / sum(1 for n in resolved_at if rows[n][5] == 0),
            4,
        ),
        "tokensUsed": sum(m[3] or 0 for m in sms_rows if m[4] == 0),
        "smsMessagesSent": sum(
            m[0] == sms and m[1] == "outbound" and m[2] in ("sent", "delivered", "read")
            for m in sms_rows
            if m[4] == 0
        ),
    }
    response = await client.post(
        "/v1/analytics/snapshots",
        json={"type": "daily", "date": DAY.date().isoformat()},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
    got = response.json()["metrics"]["interactions"]
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
