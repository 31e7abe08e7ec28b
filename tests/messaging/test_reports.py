"""Chatwoot-style reports: conversations, incoming and outgoing messages, first response
and resolution times per channel account, agent and label, each value computed here
from the records the test wrote."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from commbase.identity.models import Organization
from commbase.identity.roles import Role
from commbase.messaging.models import Conversation, Message
from tests.identity.factories import add_member, make_tenant
from tests.messaging.campaigns.factories import make_account

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 8, tzinfo=UTC)


def _avg(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


async def test_reports_per_account_agent_and_label(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    agent, _ = await add_member(app, tenant, role=Role.AGENT)
    accounts = [await make_account(app, tenant.org_id, name=n) for n in ("A", "B")]
    rng = random.Random(7)
    conversations: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    async with app.state.db.sessionmaker() as session:
        for n in range(40):
            opened = START + timedelta(hours=rng.randrange(-48, 24 * 8))
            resolved = opened + timedelta(hours=rng.randrange(1, 60)) if n % 3 else None
            row = {
                "id": f"conv_r{n:024d}",
                "account": rng.choice(accounts),
                "assignee": rng.choice([None, agent, tenant.owner_id]),
                "labels": rng.sample(["vip", "billing", "bug"], rng.randrange(0, 3)),
                "opened": opened,
                "resolved": resolved,
                "response": rng.choice([None, 40, 90, 300]),
            }
            conversations.append(row)
            session.add(
                Conversation(
                    id=row["id"], org_id=tenant.org_id, account_id=row["account"],
                    contact_id=f"cnt_{n}", channel="whatsapp",
                    status="resolved" if resolved else "open",
                    assignee_user_id=row["assignee"], labels=row["labels"],
                    first_response_seconds=row["response"], resolved_at=resolved,
                    resolution_seconds=int((resolved - opened).total_seconds())
                    if resolved else None,
                    created_at=opened, updated_at=opened,
                )
            )  # fmt: skip
        await session.flush()
        for _ in range(200):
            conversation = rng.choice(conversations)
            at = START + timedelta(hours=rng.randrange(-24, 24 * 8))
            inbound = rng.random() < 0.5
            messages.append({"conversation": conversation, "at": at, "inbound": inbound})
            session.add(
                Message(
                    org_id=tenant.org_id, account_id=conversation["account"],
                    conversation_id=conversation["id"],
                    direction="inbound" if inbound else "outbound",
                    author_role="user" if inbound else "agent", status="read",
                    created_at=at, updated_at=at,
                )
            )  # fmt: skip
        await session.commit()

    def keys_of(conversation: dict[str, Any], group: str) -> list[Any]:
        if group == "account":
            return [conversation["account"]]
        if group == "agent":
            return [conversation["assignee"]]
        return list(conversation["labels"])

    for group in ("account", "agent", "label"):
        response = await client.get(
            "/v1/reports/messaging",
            params={"from": START.isoformat(), "to": END.isoformat(), "group_by": group},
            headers=tenant.headers,
        )
        assert response.status_code == 200, response.text
        got = {row["key"]: row for row in response.json()["data"]}
        expected: dict[Any, dict[str, Any]] = {}

        def slot(key: Any, table: dict[Any, dict[str, Any]] = expected) -> dict[str, Any]:
            return table.setdefault(
                key, {"conversations": 0, "incoming": 0, "outgoing": 0, "rt": [], "res": []}
            )

        for c in conversations:
            for key in keys_of(c, group):
                if START <= c["opened"] < END:
                    slot(key)["conversations"] += 1
                    if c["response"] is not None:
                        slot(key)["rt"].append(c["response"])
                if c["resolved"] is not None and START <= c["resolved"] < END:
                    seconds = int((c["resolved"] - c["opened"]).total_seconds())
                    slot(key)["res"].append(seconds)
        for m in messages:
            if START <= m["at"] < END:
                for key in keys_of(m["conversation"], group):
                    slot(key)["incoming" if m["inbound"] else "outgoing"] += 1
        assert set(got) == set(expected), group
        for key, want in expected.items():
            row = got[key]
            assert row["conversations"] == want["conversations"], (group, key)
            assert row["incoming_messages"] == want["incoming"], (group, key)
            assert row["outgoing_messages"] == want["outgoing"], (group, key)
            assert row["avg_first_response_s"] == _avg(want["rt"]), (group, key)
            assert row["resolutions"] == len(want["res"]), (group, key)
            assert row["avg_resolution_s"] == _avg(want["res"]), (group, key)

    backwards = await client.get(
        "/v1/reports/messaging",
        params={"from": END.isoformat(), "to": START.isoformat()},
        headers=tenant.headers,
    )
    assert backwards.status_code == 422
    other = await make_tenant(app)
    empty = await client.get(
        "/v1/reports/messaging",
        params={"from": START.isoformat(), "to": END.isoformat()},
        headers=other.headers,
    )
    assert empty.json()["data"] == []


async def test_within_business_hours_a_night_and_a_weekend_do_not_count(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    zone = ZoneInfo("Europe/Prague")
    days = ("monday", "tuesday", "wednesday", "thursday", "friday")
    hours = {day: [["09:00", "17:00"]] for day in days}
    office = await make_account(app, tenant.org_id, name="Office", business_hours=hours)
    always = await make_account(app, tenant.org_id, name="Always")

    def local(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=zone).astimezone(UTC)

    # Friday 27 November 15:30 opened, 16:00 the contact wrote; answered Monday 10:00,
    # resolved Monday 12:00 (Prague time): a night and a weekend in between.
    spans = [
        (office, local(27, 15, 30), local(27, 16), local(30, 10), local(30, 12)),
        (always, local(28, 10), local(28, 10), local(28, 10, 5), local(28, 11)),
    ]
    async with app.state.db.sessionmaker() as session:
        organization = await session.get(Organization, tenant.org_id)
        assert organization is not None
        organization.timezone = "Europe/Prague"
        for n, (account, opened, inbound, answered, resolved) in enumerate(spans):
            session.add(
                Conversation(
                    org_id=tenant.org_id, account_id=account, contact_id=f"cnt_bh{n}",
                    channel="whatsapp", status="resolved", first_inbound_at=inbound,
                    first_response_at=answered,
                    first_response_seconds=int((answered - inbound).total_seconds()),
                    resolved_at=resolved,
                    resolution_seconds=int((resolved - opened).total_seconds()),
                    created_at=opened, updated_at=resolved,
                )
            )  # fmt: skip
        await session.commit()
    params = {"from": "2026-11-27T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    wall = await client.get("/v1/reports/messaging", params=params, headers=tenant.headers)
    inside = await client.get(
        "/v1/reports/messaging", params={**params, "business_hours": "true"}, headers=tenant.headers
    )
    assert wall.status_code == inside.status_code == 200, inside.text
    walls = {row["key"]: row for row in wall.json()["data"]}
    insides = {row["key"]: row for row in inside.json()["data"]}
    # Wall-clock: 66 hours to answer, 68.5 hours to resolve.
    assert walls[office]["avg_first_response_s"] == 66 * 3600
    assert walls[office]["avg_resolution_s"] == 68.5 * 3600
    # Office hours only: Friday 16:00-17:00 and Monday 09:00-10:00; Friday 15:30-17:00
    # and Monday 09:00-12:00.
    assert insides[office]["avg_first_response_s"] == 2 * 3600
    assert insides[office]["avg_resolution_s"] == 4.5 * 3600
    # An account without business hours is always open.
    assert insides[always]["avg_first_response_s"] == walls[always]["avg_first_response_s"] == 300
    assert insides[always]["avg_resolution_s"] == walls[always]["avg_resolution_s"] == 3600
    assert insides[office]["conversations"] == walls[office]["conversations"] == 1
    maybe = {**params, "business_hours": "maybe"}
    bad = await client.get("/v1/reports/messaging", params=maybe, headers=tenant.headers)
    assert bad.status_code == 422
