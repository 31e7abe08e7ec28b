"""Creating a room passes the guards placing a call passes (consent, call rate,
concurrency, duration and spend caps, the hold) and stores its Idempotency-Key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select, update

from commbase.calls.video.models import VideoParticipant
from commbase.core.idempotency import IdempotencyKey
from tests.calls.factories import fund_wallet
from tests.identity.factories import Tenant, auth, login, make_tenant


async def agent_session(
    client: httpx.AsyncClient, tenant: Tenant, **consent: Any
) -> tuple[str, dict[str, str]]:
    rate_limits = consent.pop("rate_limits", {})
    created = await client.post(
        "/v1/agent-sessions",
        json={
            "agent_context": {"agent_id": "video-bot"},
            "user_consent": {"calling_authorized": True, **consent},
            "rate_limits": rate_limits,
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], auth(created.json()["session_token"])


async def call_of(client: httpx.AsyncClient, tenant: Tenant, room: dict[str, Any]) -> Any:
    return (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()


async def test_an_agent_session_without_calling_consent_opens_no_room(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    _, headers = await agent_session(client, tenant, calling_authorized=False)
    refused = await client.post("/v1/video/rooms", json={}, headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/consent-required"
    listed = await client.get("/v1/video/rooms", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_an_agent_sessions_spend_limit_and_call_rate_bound_its_rooms(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    session_id, headers = await agent_session(
        client,
        tenant,
        max_spend_limit=10,
        privacy_mode=True,
        rate_limits={"calls_per_hour": 1},
    )
    created = await client.post("/v1/video/rooms", json={}, headers=headers)
    assert created.status_code == 201, created.text
    call = await call_of(client, tenant, created.json())
    # 10 minor units at 0.05 a minute: two minutes held, the room may last two minutes.
    assert call["max_duration_seconds"] == 120
    assert call["agent_session_id"] == session_id
    assert call["privacy_mode"] is True
    again = await client.post("/v1/video/rooms", json={}, headers=headers)
    assert again.status_code == 429, again.text


async def test_a_users_daily_spend_limit_and_concurrency_bound_their_rooms(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    patched = await client.patch(
        f"/v1/users/{tenant.owner_id}",
        json={"limits": {"daily_spend_limit": 15, "max_concurrent_calls": 1}},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    created = await client.post("/v1/video/rooms", json={}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert (await call_of(client, tenant, created.json()))["max_duration_seconds"] == 180
    second = await client.post("/v1/video/rooms", json={}, headers=tenant.headers)
    assert second.status_code == 429, second.text


async def test_a_retry_whose_response_record_was_lost_answers_with_the_same_room(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=10_000)
    headers = {**tenant.headers, "Idempotency-Key": "room-once"}
    first = await client.post("/v1/video/rooms", json={"title": "Help"}, headers=headers)
    assert first.status_code == 201, first.text
    held = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    retry = await client.post("/v1/video/rooms", json={"title": "Help"}, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    listed = await client.get("/v1/video/rooms", headers=tenant.headers)
    assert [room["id"] for room in listed.json()["data"]] == [first.json()["id"]]
    after = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert after["held"] == held["held"]  # one hold
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    other = await client.post("/v1/video/rooms", json={"title": "Other"}, headers=headers)
    assert other.status_code == 422, other.text


# ------------------------------------------------------------------ ownership


async def test_an_agent_session_reaches_only_its_own_rooms_and_never_a_members_seat(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    _, mine = await agent_session(client, tenant)
    _, other = await agent_session(client, tenant)
    room = (await client.post("/v1/video/rooms", json={}, headers=mine)).json()
    base = f"/v1/video/rooms/{room['id']}"
    assert (await client.get(base, headers=other)).status_code == 404
    assert (await client.get("/v1/video/rooms", headers=other)).json()["data"] == []
    for path, body in [
        ("/guest-links", {}),
        ("/guest-links/revoke", None),
        ("/join", {}),
        ("/wrap-up", {"problem_solved": True, "outcome": "resolved"}),
        ("/end", None),
    ]:
        refused = await client.post(base + path, json=body, headers=other)
        assert refused.status_code == 404, (path, refused.text)
    assert (await client.get(base, headers=mine)).json()["status"] == "created"

    member = auth(await login(client, tenant.owner_email))
    human = await client.post(f"{base}/join", json={}, headers=member)
    assert human.status_code == 200, human.text
    agent = await client.post(f"{base}/join", json={}, headers=mine)
    key = await client.post(f"{base}/join", json={}, headers=tenant.headers)
    assert agent.status_code == key.status_code == 200, agent.text
    ids = {human.json()["participant_id"], agent.json()["participant_id"]}
    assert len(ids | {key.json()["participant_id"]}) == 3  # three seats, none shared
    again = await client.post(f"{base}/join", json={}, headers=mine)
    assert again.json()["participant_id"] == agent.json()["participant_id"]
    # The member's own token still works: the agent session took nothing from them.
    quality = await client.post(
        f"{base}/quality",
        json={"rtt_ms": 40, "jitter_ms": 5, "packet_loss": 0.0, "mos": 4.3},
        headers=auth(human.json()["access_token"]),
    )
    assert quality.status_code == 202, quality.text


# ------------------------------------------------------------------ tokens never stored


async def test_responses_with_tokens_are_no_store_and_never_replayed_from_storage(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    keyed = {**tenant.headers, "Idempotency-Key": "no-store-room"}
    created = await client.post("/v1/video/rooms", json={}, headers=keyed)
    assert created.status_code == 201, created.text
    base = f"/v1/video/rooms/{created.json()['id']}"
    link = await client.post(
        f"{base}/guest-links", json={}, headers={**tenant.headers, "Idempotency-Key": "l1"}
    )
    join = await client.post(
        f"{base}/join", json={}, headers={**tenant.headers, "Idempotency-Key": "j1"}
    )
    guest = await client.post(
        "/v1/video/guest/join",
        json={"token": created.json()["guest_token"]},
        headers={"Idempotency-Key": "g1"},
    )
    for response in (created, link, join, guest):
        assert response.status_code in (200, 201), response.text
        assert response.headers["cache-control"] == "no-store"
    async with app.state.db.sessionmaker() as session:
        bodies = list(await session.scalars(select(IdempotencyKey.response_body)))
    assert len(bodies) >= 3
    assert all(body is None for body in bodies)  # no token kept in plaintext


# ------------------------------------------------------------------ quality reports


async def test_quality_is_averaged_from_running_totals_and_bounded_per_participant(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    room = (await client.post("/v1/video/rooms", json={}, headers=tenant.headers)).json()
    base = f"/v1/video/rooms/{room['id']}"
    agent = (await client.post(f"{base}/join", json={}, headers=tenant.headers)).json()
    guest = (await client.post("/v1/video/guest/join", json={"token": room["guest_token"]})).json()

    async def report(grant: dict[str, Any], mos: float, rtt: int) -> httpx.Response:
        return await client.post(
            f"{base}/quality",
            json={"rtt_ms": rtt, "jitter_ms": 4, "packet_loss": 0.01, "mos": mos},
            headers=auth(grant["access_token"]),
        )

    assert (await report(agent, 4.0, 100)).status_code == 202
    assert (await report(guest, 3.0, 60)).status_code == 202
    again = await report(guest, 1.0, 900)  # within 4 s of the guest's last sample
    assert again.status_code == 429, again.text
    assert "retry-after" in {name.lower() for name in again.headers}
    call = (await client.get(f"/v1/calls/{room['call_id']}", headers=tenant.headers)).json()
    assert (call["mos_score"], call["latency_ms"], call["jitter_ms"]) == (3.5, 40, 4)
    shown = (await client.get(base, headers=tenant.headers)).json()
    assert shown["quality_samples"] == 2

    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(VideoParticipant)
            .where(VideoParticipant.id == agent["participant_id"])
            .values(left_at=VideoParticipant.joined_at)
        )
        await session.commit()
    await asyncio.sleep(4.1)
    gone = await report(agent, 4.0, 100)
    assert gone.status_code == 409, gone.text
