"""Appending to a transcript in the database (``transcripts.appending``): the result
equals the whole rewrite's, the stored segments are neither read nor sent back, and
the cases that cannot simply go at the end still come out sorted."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select

from commbase.calls.transcripts.models import Transcript
from tests.calls.test_transcripts import make_call, search, write
from tests.identity.factories import make_tenant

LINES = [
    {"speaker": "caller", "text": "I would like to move my appointment", "start": 1.0, "end": 3.0},
    {"speaker": "agent", "text": "Of course, which day suits you?", "start": 3.5, "end": 5.0},
    {"speaker": "caller", "text": "Thursday afternoon, please", "start": 5.5, "end": 6.5},
    {"speaker": "agent", "text": "Thursday at three is free", "start": 6.5, "end": 8.0},
    {"speaker": "caller", "text": "Perfect", "start": 6.5, "end": 8.0, "confidence": 0.5},
    {"speaker": "agent", "text": "Booked: Thursday at three", "start": 9.0, "end": 10.5},
]
SHOWN = ("segments", "word_count", "duration_seconds", "language", "search_config", "status")


async def _read(client: httpx.AsyncClient, headers: dict[str, str], call_id: str) -> Any:
    response = await client.get(f"/v1/calls/{call_id}/transcript", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _stored(app: FastAPI, call_id: str) -> tuple[Any, ...]:
    async with app.state.db.sessionmaker() as session:
        row = (
            await session.execute(
                select(
                    Transcript.segments,
                    Transcript.text,
                    Transcript.word_count,
                    Transcript.duration_seconds,
                ).where(Transcript.call_id == call_id)
            )
        ).one()
        return tuple(row)


async def test_appending_in_pieces_stores_what_one_whole_write_stores(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    whole, pieces = await make_call(app, tenant), await make_call(app, tenant)
    await write(client, tenant.headers, whole, segments=LINES)
    # In order, one or two at a time; then one that starts before the last stored
    # segment (rewritten and sorted), then in order again.
    late = {"speaker": "agent", "text": "One moment", "start": 8.5, "end": 9.0}
    for batch in ([], LINES[:1], LINES[1:3], LINES[3:5], [late], LINES[5:]):
        if batch:
            await write(client, tenant.headers, pieces, mode="append", segments=batch)
    await write(client, tenant.headers, whole, mode="append", segments=[late])
    expected, got = (
        (await _read(client, tenant.headers, whole)),
        await _read(client, tenant.headers, pieces),
    )
    assert {k: got[k] for k in SHOWN} == {k: expected[k] for k in SHOWN}
    assert await _stored(app, pieces) == await _stored(app, whole)
    assert [segment["start"] for segment in got["segments"]] == sorted(
        segment["start"] for segment in got["segments"]
    )
    plain = await client.get(f"/v1/calls/{pieces}/transcript.txt", headers=tenant.headers)
    whole_plain = await client.get(f"/v1/calls/{whole}/transcript.txt", headers=tenant.headers)
    assert plain.status_code == 200
    assert plain.text == whole_plain.text
    hits = await search(client, tenant.headers, "booked thursday")
    assert {hit["call_id"] for hit in hits} == {whole, pieces}


async def test_an_append_neither_reads_nor_resends_the_stored_segments(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    long_ago: list[dict[str, Any]] = [
        {"speaker": "caller", "text": f"line number {i} " + "words " * 20, "start": i, "end": i}
        for i in range(500)
    ]
    await write(client, tenant.headers, call_id, segments=long_ago)
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append(f"{statement} {parameters!r}")

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        new = {"speaker": "agent", "text": "And one more thing", "start": 600.0, "end": 601.0}
        response = await client.put(
            f"/v1/calls/{call_id}/transcript",
            json={"mode": "append", "segments": [new]},
            headers=tenant.headers,
        )
        assert response.status_code == 200, response.text
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = [s for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    # The stored 500 lines (~70 kB) are not sent back: only the new one is.
    assert not any("line number 499" in statement for statement in writes)
    assert sum(len(statement) for statement in writes) < 10_000
    stored = response.json()
    assert len(stored["segments"]) == 501
    assert stored["segments"][-1]["text"] == "And one more thing"
    assert stored["word_count"] == sum(len(s["text"].split()) for s in [*long_ago, new])
    assert stored["duration_seconds"] == 601.0


async def test_an_append_sent_again_is_stored_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    """A write retried after its acknowledgement was lost (the live writer's connection
    dropping as the commit landed, a customer's timeout) sends lines already stored:
    whether it takes the in-database append or the whole rewrite, nothing doubles."""
    tenant = await make_tenant(app)
    once, twice = await make_call(app, tenant), await make_call(app, tenant)
    batches = (LINES[:1], LINES[1:3], LINES[3:5], LINES[5:])
    for batch in batches:
        await write(client, tenant.headers, once, mode="append", segments=batch)
        await write(client, tenant.headers, twice, mode="append", segments=batch)
        await write(client, tenant.headers, twice, mode="append", segments=batch)
    # A batch's tail sent again with one new line after it.
    new = {"speaker": "caller", "text": "Thank you", "start": 11.0, "end": 12.0}
    await write(client, tenant.headers, once, mode="append", segments=[new])
    await write(client, tenant.headers, twice, mode="append", segments=[LINES[5], new])
    expected, got = (
        await _read(client, tenant.headers, once),
        await _read(client, tenant.headers, twice),
    )
    assert len(got["segments"]) == len(LINES) + 1
    assert {k: got[k] for k in SHOWN} == {k: expected[k] for k in SHOWN}
    assert await _stored(app, twice) == await _stored(app, once)


async def test_the_same_words_at_another_time_are_a_new_line(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    yes = {"speaker": "caller", "text": "Yes", "start": 1.0, "end": 1.5}
    again = {**yes, "start": 2.0, "end": 2.5}
    other = {**yes, "speaker": "agent"}
    for segment in (yes, again, other):
        await write(client, tenant.headers, call_id, mode="append", segments=[segment])
    got = await _read(client, tenant.headers, call_id)
    assert [(s["speaker"], s["start"]) for s in got["segments"]] == [
        ("caller", 1.0),
        ("agent", 1.0),
        ("caller", 2.0),
    ]
