"""Video quality samples expire (retention kind ``video_quality_samples``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.calls.video.models import VideoQualitySample
from commbase.privacy import retention
from commbase.privacy.registry import retention_kinds
from tests.calls.video.conftest import new_room
from tests.identity.factories import make_tenant

NOW = datetime(2026, 6, 17, 10, 30, tzinfo=UTC)


async def test_quality_samples_are_kept_90_days_or_the_organizations_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    changed = await client.put(
        "/v1/privacy/retention",
        json={"overrides": {"video_quality_samples": 30}},
        headers=other.headers,
    )
    assert changed.status_code == 200, changed.text
    listed = (await client.get("/v1/privacy/retention", headers=tenant.headers)).json()
    [policy] = [p for p in listed["policies"] if p["kind"] == "video_quality_samples"]
    assert (policy["days"], policy["default_days"]) == (90, 90)

    rooms = {
        tenant.org_id: (await new_room(client, tenant))["id"],
        other.org_id: (await new_room(client, other))["id"],
    }
    ages_put = [(tenant.org_id, 91), (tenant.org_id, 89), (other.org_id, 31), (other.org_id, 29)]
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            VideoQualitySample(
                org_id=org_id,
                room_id=rooms[org_id],
                participant_id="vpart_x",
                rtt_ms=80,
                mos=4.1,
                created_at=NOW - timedelta(days=days),
            )
            for org_id, days in ages_put
        )
        await session.commit()

    kind = retention_kinds()["video_quality_samples"]
    assert kind.per_organization
    assert await retention.purge_kind(app.state.db, kind, now=NOW) == 2
    async with app.state.db.sessionmaker() as session:
        left = (
            await session.execute(select(VideoQualitySample.org_id, VideoQualitySample.created_at))
        ).all()
    ages = sorted((org == tenant.org_id, (NOW - at.replace(tzinfo=UTC)).days) for org, at in left)
    assert ages == [(False, 29), (True, 89)]
    # The rooms still answer with what they showed (their figures live on the room).
    shown = await client.get(f"/v1/video/rooms/{rooms[tenant.org_id]}", headers=tenant.headers)
    assert shown.status_code == 200, shown.text
