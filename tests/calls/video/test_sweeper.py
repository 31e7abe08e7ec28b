"""Rooms nobody ends: participants gone past the reconnect grace leave, and the
room ends, billed up to the last moment an agent and a guest were both connected."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.dialects import postgresql

from commbase.calls.video import service as video_service
from commbase.calls.video import sweeper
from commbase.calls.video.models import VideoQualitySample
from commbase.core.jobs import JobContext
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import outbox_types
from tests.calls.video.conftest import guest_join, new_room
from tests.identity.factories import make_tenant

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    with use_clock(frozen):
        yield frozen


async def socket(app: FastAPI, org_id: str, pid: str, room_id: str, *, opened: bool) -> None:
    async with app.state.db.sessionmaker() as session:
        if opened:
            await video_service.connected(session, participant_id=pid, org_id=org_id)
        else:
            await video_service.disconnected(
                session,
                org_id=org_id,
                room_id=room_id,
                participant_id=pid,
                left=False,
                connection=1,
            )
        await session.commit()


async def sweep(app: FastAPI, at: datetime) -> int:
    context = JobContext(
        database=app.state.db, now=at, run_id="test", services=app.state.job_services
    )
    return await sweeper.sweep_rooms(context)


async def test_a_room_everybody_left_ends_billed_while_both_were_there(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    path = f"/v1/video/rooms/{room['id']}"
    agent = (await client.post(f"{path}/join", json={}, headers=tenant.headers)).json()
    guest = (await guest_join(client, room["guest_token"])).json()
    org, rid = tenant.org_id, room["id"]
    await socket(app, org, agent["participant_id"], rid, opened=True)
    await socket(app, org, guest["participant_id"], rid, opened=True)
    clock.advance(90)
    await socket(app, org, guest["participant_id"], rid, opened=False)
    clock.advance(10)
    await socket(app, org, agent["participant_id"], rid, opened=False)

    assert await sweep(app, T0 + timedelta(seconds=130)) == 0  # both within the grace
    shown = (await client.get(path, headers=tenant.headers)).json()
    assert shown["status"] == "connected"

    clock.advance(61)
    assert await sweep(app, T0 + timedelta(seconds=161)) == 1
    assert await sweep(app, T0 + timedelta(seconds=200)) == 0
    shown = (await client.get(path, headers=tenant.headers)).json()
    assert shown["status"] == "ended"
    assert shown["duration_seconds"] == 90  # until the guest's socket closed
    call = (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()
    assert (call["status"], call["duration_seconds"]) == ("completed", 90)
    left = [kind for kind in await outbox_types(app, tenant) if kind == "video.participant.left"]
    assert len(left) == 2


async def test_a_gone_participant_holds_no_seat(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    guests = [(await guest_join(client, room["guest_token"])).json() for _ in range(4)]
    assert (await guest_join(client, room["guest_token"])).status_code == 409  # full
    await socket(app, tenant.org_id, guests[0]["participant_id"], room["id"], opened=True)
    await socket(app, tenant.org_id, guests[0]["participant_id"], room["id"], opened=False)
    clock.advance(30)
    assert (await guest_join(client, room["guest_token"])).status_code == 409  # within grace
    clock.advance(31)
    fifth = await guest_join(client, room["guest_token"])
    assert fifth.status_code == 200, fifth.text


def test_quality_sample_ids_are_64_bit_on_postgresql() -> None:
    column = VideoQualitySample.__table__.c.id
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    assert column.type.compile(dialect=dialect) == "BIGINT"
