"""Retention: each kind is removed exactly when its period (or the organization's) ends."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select

from commbase.calls.models import Call
from commbase.calls.transcripts.models import Transcript
from commbase.contacts.models import Contact
from commbase.core.db import Database
from commbase.core.idempotency import IdempotencyKey
from commbase.core.jobs import get_job, run_job
from commbase.core.outbox import OutboxDelivery, OutboxEvent
from commbase.core.time import FrozenClock
from commbase.identity.agent_sessions.models import AgentSession
from commbase.privacy import retention
from commbase.privacy.models import PrivacyRequest
from commbase.privacy.registry import RetentionKind, RetentionWindow, retention_kinds
from tests.identity.factories import Tenant, make_tenant

DAY = timedelta(days=1)
A_OVERRIDES = {
    "transcripts": 7,
    "agent_sessions": 1,
    "idempotency_keys": 3,
    "outbox_events": 10,
    "privacy_exports": 2,
}


async def _put_retention(
    client: httpx.AsyncClient, tenant: Tenant, overrides: dict[str, int]
) -> httpx.Response:
    return await client.put(
        "/v1/privacy/retention", json={"overrides": overrides}, headers=tenant.headers
    )


async def _add(app: FastAPI, *rows: Any) -> list[Any]:
    async with app.state.db.sessionmaker() as session:
        session.add_all(rows)
        await session.commit()
    return list(rows)


async def _transcript(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, *, finished: bool = True
) -> str:
    """A call's transcript written now (the clock's now), completed unless told otherwise."""
    [call] = await _add(app, Call(org_id=tenant.org_id, provider="simulator", status="completed"))
    body: dict[str, Any] = {"segments": [{"speaker": "caller", "text": "hi", "start": 0, "end": 1}]}
    if finished:
        body["status"] = "completed"
    response = await client.put(
        f"/v1/calls/{call.id}/transcript", json=body, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _agent_session(
    tenant: Tenant, *, expires_at: datetime, terminated_at: datetime | None = None
) -> AgentSession:
    return AgentSession(
        org_id=tenant.org_id,
        session_type="guest",
        created_by=tenant.owner_id,
        token_hash=secrets.token_hex(32),
        agent_id="bot",
        status="terminated" if terminated_at else "active",
        created_at=expires_at - 6 * DAY,
        expires_at=expires_at,
        terminated_at=terminated_at,
    )


def _idempotency_key(org_id: str | None, *, created_at: datetime) -> IdempotencyKey:
    return IdempotencyKey(
        scope_hash=secrets.token_hex(32),
        key="k",
        org_id=org_id,
        fingerprint="f",
        method="POST",
        path="/v1/calls",
        state="completed",
        locked_at=created_at,
        created_at=created_at,
        expires_at=created_at + DAY,
    )


async def _event(app: FastAPI, org_id: str, *, created_at: datetime, done: bool | None) -> str:
    """An outbox event; ``done`` None: no consumer ever had it."""
    [event] = await _add(
        app, OutboxEvent(org_id=org_id, type="contact.created", payload={}, created_at=created_at)
    )
    if done is not None:
        await _add(
            app,
            OutboxDelivery(
                event_id=event.id,
                consumer="webhooks",
                available_at=created_at,
                done_at=created_at if done else None,
            ),
        )
    return str(event.id)


def _export(org_id: str, *, created_at: datetime) -> PrivacyRequest:
    return PrivacyRequest(
        org_id=org_id,
        kind="export",
        subject_type="contact",
        subject_id="cnt_x",
        status="completed",
        counts={},
        file=b"zip",
        created_at=created_at,
        completed_at=created_at,
        expires_at=created_at + 7 * DAY,
    )


async def _ids(app: FastAPI, column: Any, *where: Any) -> set[str]:
    async with app.state.db.sessionmaker() as session:
        return {str(value) for value in await session.scalars(select(column).where(*where))}


async def test_retention_removes_exactly_what_expired_and_nothing_else(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")  # overrides every kind
    b = await make_tenant(app, name="Bravo")  # keeps the defaults
    run_at = clock.now() + 100 * DAY

    # Transcripts expire from when they finish; Alpha's override restamps its older ones.
    clock.set(run_at - 31 * DAY)
    b_old = await _transcript(app, client, b)
    clock.set(run_at - 8 * DAY)
    a_before_override = await _transcript(app, client, a)
    b_recent = await _transcript(app, client, b)
    clock.set(run_at - 7 * DAY + timedelta(hours=1))
    assert (await _put_retention(client, a, A_OVERRIDES)).status_code == 200
    clock.set(run_at - 6 * DAY)
    a_recent = await _transcript(app, client, a)
    a_unfinished = await _transcript(app, client, a, finished=False)
    clock.set(run_at)

    ended_2d_a = _agent_session(a, expires_at=run_at + DAY, terminated_at=run_at - 2 * DAY)
    expired_2d_a = _agent_session(a, expires_at=run_at - 2 * DAY)
    active_a = _agent_session(a, expires_at=run_at + DAY)
    ended_12h_a = _agent_session(a, expires_at=run_at + DAY, terminated_at=run_at - DAY / 2)
    ended_2d_b = _agent_session(b, expires_at=run_at + DAY, terminated_at=run_at - 2 * DAY)
    expired_31d_b = _agent_session(b, expires_at=run_at - 31 * DAY)
    sessions = [ended_2d_a, expired_2d_a, active_a, ended_12h_a, ended_2d_b, expired_31d_b]
    await _add(app, *sessions)
    [guest_contact] = await _add(
        app, Contact(org_id=a.org_id, owner_agent_session_id=ended_2d_a.id, name="Guest's")
    )

    keys = await _add(
        app,
        _idempotency_key(a.org_id, created_at=run_at - 2 * DAY),  # kept: Alpha keeps 3 days
        _idempotency_key(a.org_id, created_at=run_at - 4 * DAY),
        _idempotency_key(b.org_id, created_at=run_at - 2 * DAY),
        _idempotency_key(b.org_id, created_at=run_at - timedelta(hours=2)),  # not expired
        _idempotency_key(None, created_at=run_at - 2 * DAY),  # a request that never ran
    )
    a_done_11d = await _event(app, a.org_id, created_at=run_at - 11 * DAY, done=True)
    a_pending_11d = await _event(app, a.org_id, created_at=run_at - 11 * DAY, done=False)
    a_done_5d = await _event(app, a.org_id, created_at=run_at - 5 * DAY, done=True)
    b_done_11d = await _event(app, b.org_id, created_at=run_at - 11 * DAY, done=True)
    b_done_91d = await _event(app, b.org_id, created_at=run_at - 91 * DAY, done=True)
    b_unconsumed_91d = await _event(app, b.org_id, created_at=run_at - 91 * DAY, done=None)
    exports = await _add(
        app,
        _export(a.org_id, created_at=run_at - 3 * DAY),
        _export(a.org_id, created_at=run_at - DAY),
        _export(b.org_id, created_at=run_at - 3 * DAY),
        _export(b.org_id, created_at=run_at - 8 * DAY),
    )
    events_before = await _ids(app, OutboxEvent.id)

    run = await run_job(app.state.db, get_job("privacy.retention"))

    assert run.status == "succeeded", run.error
    assert run.rows == 2 + 3 + 3 + 3 + 2
    assert await _ids(app, Transcript.id) == {b_recent, a_recent, a_unfinished}
    assert {b_old, a_before_override}.isdisjoint(await _ids(app, Transcript.id))
    assert await _ids(app, AgentSession.id) == {s.id for s in (active_a, ended_12h_a, ended_2d_b)}
    assert await _ids(app, Contact.id, Contact.id == guest_contact.id) == set()
    assert await _ids(app, IdempotencyKey.id) == {str(keys[0].id), str(keys[3].id)}
    assert events_before - await _ids(app, OutboxEvent.id) == {
        a_done_11d,
        b_done_91d,
        b_unconsumed_91d,
    }
    assert {a_pending_11d, a_done_5d, b_done_11d} <= await _ids(app, OutboxEvent.id)
    assert await _ids(app, PrivacyRequest.id, PrivacyRequest.file.is_not(None)) == {
        exports[1].id,
        exports[2].id,
    }
    assert len(await _ids(app, PrivacyRequest.id)) == 4  # the records of the requests stay

    again = await run_job(app.state.db, get_job("privacy.retention"))
    assert (again.status, again.rows) == ("succeeded", 0)


async def test_the_purge_works_in_small_committed_batches(app: FastAPI, clock: FrozenClock) -> None:
    a = await make_tenant(app)
    await _add(
        app, *(_idempotency_key(a.org_id, created_at=clock.now() - 3 * DAY) for _ in range(5))
    )
    kind = retention_kinds()["idempotency_keys"]
    batches: list[int] = []

    async def counted(session: Any, *, window: RetentionWindow, limit: int) -> int:
        removed = await kind.purge(session, window=window, limit=limit)
        batches.append(removed)
        return removed

    database: Database = app.state.db
    spy = RetentionKind(kind.name, kind.default_days, 1, 30, counted, kind.description)

    deletes: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE FROM idempotency_keys"):
            deletes.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        removed = await retention.purge_kind(database, spy, now=clock.now(), batch_size=2)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)

    assert (removed, batches) == (5, [2, 2, 1])
    assert len(deletes) == 3
    if database.dialect == "postgresql":  # the batch is one array: one text for 2 ids and 1
        assert len(set(deletes)) == 1, deletes


async def test_retention_policies_are_bounded_and_audited(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app)
    b = await make_tenant(app)
    shown = await client.get("/v1/privacy/retention", headers=a.headers)
    defaults = {p["kind"]: p for p in shown.json()["policies"]}
    assert defaults["transcripts"] | {"description": ""} == {
        "kind": "transcripts",
        "description": "",
        "days": 30,
        "default_days": 30,
        "min_days": 1,
        "max_days": 3650,
        "overridden": False,
    }
    assert {"agent_sessions", "idempotency_keys", "outbox_events", "privacy_exports"} <= set(
        defaults
    )

    changed = await _put_retention(client, a, {"transcripts": 7, "outbox_events": 30})

    assert changed.status_code == 200, changed.text
    policies = {p["kind"]: p for p in changed.json()["policies"]}
    assert (policies["transcripts"]["days"], policies["transcripts"]["overridden"]) == (7, True)
    assert policies["agent_sessions"]["days"] == 30
    org = (await client.get("/v1/organizations/current", headers=a.headers)).json()
    assert org["settings"]["transcript_retention_days"] == 7  # what new transcripts use
    other = (await client.get("/v1/privacy/retention", headers=b.headers)).json()
    assert {p["kind"]: p["days"] for p in other["policies"]}["transcripts"] == 30

    for overrides, field in (
        ({"transcripts": 0}, "transcripts"),
        ({"transcripts": 3651}, "transcripts"),
        ({"idempotency_keys": 31}, "idempotency_keys"),
        ({"no_such_kind": 5}, "no_such_kind"),
    ):
        refused = await _put_retention(client, a, overrides)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["loc"] for e in refused.json()["errors"]] == [["body", "overrides", field]]
    assert (await _put_retention(client, a, {"transcripts": "soon"})).status_code == 422  # type: ignore[dict-item]
    unchanged = (await client.get("/v1/privacy/retention", headers=a.headers)).json()
    assert unchanged == changed.json()

    reset = await _put_retention(client, a, {"outbox_events": 30})
    assert {p["kind"]: p["days"] for p in reset.json()["policies"]}["transcripts"] == 30
    same = await _put_retention(client, a, {"outbox_events": 30})  # no change, no entry
    assert same.status_code == 200
    audit = await client.get(
        "/v1/audit-log", params={"action": "privacy.retention_changed"}, headers=a.headers
    )
    entries = audit.json()["data"]
    assert [e["details"]["changes"] for e in entries] == [
        {"transcripts": {"from": 7, "to": None}},
        {"outbox_events": {"from": None, "to": 30}, "transcripts": {"from": None, "to": 7}},
    ]


async def test_a_tenant_runs_retention_for_its_own_organization_only(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app, name="Alpha")
    b = await make_tenant(app, name="Bravo")
    now = clock.now()
    keys = await _add(
        app,
        _idempotency_key(a.org_id, created_at=now - 2 * DAY),
        _idempotency_key(b.org_id, created_at=now - 2 * DAY),
    )
    a_event = await _event(app, a.org_id, created_at=now - 91 * DAY, done=True)
    b_event = await _event(app, b.org_id, created_at=now - 91 * DAY, done=True)
    exports = await _add(
        app,
        _export(a.org_id, created_at=now - 8 * DAY),
        _export(b.org_id, created_at=now - 8 * DAY),
    )
    # Agent sessions are a kind whose purge is not declared per organization: a
    # tenant's run leaves them to the scheduled pass.
    sessions = await _add(
        app,
        _agent_session(a, expires_at=now - 31 * DAY),
        _agent_session(b, expires_at=now - 31 * DAY),
    )

    response = await client.post("/v1/jobs/privacy.retention/runs", headers=a.headers)

    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["rows"]) == ("succeeded", 3)
    assert await _ids(app, IdempotencyKey.id) == {str(keys[1].id)}
    assert await _ids(app, OutboxEvent.id, OutboxEvent.id.in_([a_event, b_event])) == {b_event}
    assert await _ids(app, PrivacyRequest.id, PrivacyRequest.file.is_not(None)) == {exports[1].id}
    assert await _ids(app, AgentSession.id) == {s.id for s in sessions}
    runs = await client.get("/v1/jobs/privacy.retention/runs", headers=b.headers)
    assert runs.json()["data"] == [], "Bravo sees Alpha's run"

    everyone = await run_job(app.state.db, get_job("privacy.retention"), trigger="schedule")

    assert (everyone.status, everyone.rows) == ("succeeded", 3 + 2)
    assert await _ids(app, IdempotencyKey.id) == set()
    assert await _ids(app, AgentSession.id) == set()
