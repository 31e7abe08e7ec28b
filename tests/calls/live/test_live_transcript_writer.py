"""The live transcript's writer: lines queued while the database is away are written
once it answers again, and a writer that died (its process gone) loses nothing that
was written: the next one, in another process, appends after it."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from commbase.calls.live import transcript as live_transcript
from commbase.calls.live.service import LiveCall
from commbase.calls.live.transcript import LiveTranscript
from commbase.calls.models import Call
from commbase.calls.transcripts.models import Transcript
from commbase.calls.transcripts.schemas import MAX_OFFSET_S
from commbase.core.db import Database
from tests.identity.factories import make_tenant

AWAY = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1


async def live_call(app: FastAPI) -> LiveCall:
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        call = Call(
            org_id=tenant.org_id,
            provider="twilio",
            status="in-progress",
            to_number="+14155551234",
            live_agent=True,
        )
        session.add(call)
        await session.commit()
        return LiveCall.of(call)


async def stored(app: FastAPI, call_id: str) -> tuple[list[str], str, str]:
    async with app.state.db.sessionmaker() as session:
        transcript = await session.scalar(select(Transcript).where(Transcript.call_id == call_id))
        assert transcript is not None
        return [s["text"] for s in transcript.segments], transcript.text, transcript.status


@pytest.fixture(autouse=True)
def quick_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_transcript, "WRITE_EVERY_S", 0.05)


async def test_lines_said_while_the_database_is_away_are_written_when_it_answers(
    app: FastAPI,
) -> None:
    call = await live_call(app)
    writer = LiveTranscript(app.state.db, call=call, retention_default=30)
    away = Database(AWAY)
    try:
        writer.database = away
        writer.add(speaker="callee", text="Hello, anyone there?", start=1.0, end=1.0)
        await asyncio.sleep(0.5)  # rounds that fail to write it
        writer.database = app.state.db
        writer.add(speaker="agent", text="Yes, I am here.", start=2.0, end=3.0)
        await writer.close(completed=True)
    finally:
        await away.dispose()
    texts, text, status = await stored(app, call.id)
    assert texts == ["Hello, anyone there?", "Yes, I am here."]
    assert text == "Hello, anyone there?\nYes, I am here."
    assert status == "completed"


async def test_a_writer_that_died_loses_nothing_it_wrote(app: FastAPI) -> None:
    call = await live_call(app)
    first = LiveTranscript(app.state.db, call=call, retention_default=30)
    first.add(speaker="callee", text="First line", start=1.0, end=1.0)
    first.add(speaker="agent", text="Second line", start=1.5, end=2.0)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if first._wrote:
            break
    first._task.cancel()  # its process died: never closed
    # The call's sockets reconnect to another process, whose writer carries on.
    second = LiveTranscript(app.state.db, call=call, retention_default=30)
    second.add(speaker="callee", text="Third line", start=2.5, end=2.5)
    second.add(speaker="agent", text="An earlier turn, ended late", start=1.8, end=3.0)
    await second.close(completed=True)
    texts, text, status = await stored(app, call.id)
    # Sorted by start as the whole rewrite sorts them.
    expected = ["First line", "Second line", "An earlier turn, ended late", "Third line"]
    assert texts == expected
    assert text == "\n".join(expected)
    assert status == "completed"


async def test_a_refused_line_is_dropped_alone_and_the_lines_beside_it_are_written(
    app: FastAPI,
) -> None:
    """A line the transcript refuses (said past a week into the call) fails the same
    way however often it is tried: it is dropped at once, the lines written with it in
    one batch are not (before, the batch was retried ten times, then all of it lost)."""
    call = await live_call(app)
    writer = LiveTranscript(app.state.db, call=call, retention_default=30)
    writer.add(speaker="callee", text="First line.", start=1.0, end=2.0)
    writer.add(speaker="callee", text="Out of bounds.", start=MAX_OFFSET_S + 1.0, end=0.0)
    writer.add(speaker="agent", text="Last line.", start=3.0, end=4.0)
    await writer.close(completed=True)
    texts, text, status = await stored(app, call.id)
    assert texts == ["First line.", "Last line."]
    assert text == "First line.\nLast line."
    assert status == "completed"
