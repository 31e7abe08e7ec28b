"""Transcripts: writing and appending segments, JSON and text, full-text search in
the transcript's language with cursor pages, retention and expiry, agent-session
and tenant isolation, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from commbase.calls.models import Call
from commbase.calls.transcripts import service as transcripts
from commbase.calls.transcripts.models import Transcript
from commbase.core import jobs
from commbase.core.outbox import OutboxEvent
from commbase.core.pagination import encode_cursor
from commbase.core.time import FrozenClock, use_clock
from tests.identity.factories import Tenant, auth, create_key, make_tenant

PROBLEM = "application/problem+json"
GREETING = [
    {
        "speaker": "recipient",
        "text": "Yes, how can I help you today?",
        "start": 5.2,
        "end": 7.5,
        "confidence": 0.95,
    },
    {
        "speaker": "caller",
        "text": "Hello, is this customer service?",
        "start": 2.5,
        "end": 4.8,
        "confidence": 0.98,
    },
]


async def make_call(
    app: FastAPI, tenant: Tenant, *, agent_session_id: str | None = None, privacy: bool = False
) -> str:
    """A finished call of ``tenant``, written straight to the database."""
    async with app.state.db.sessionmaker() as session:
        call = Call(
            org_id=tenant.org_id,
            provider="simulator",
            status="completed",
            to_number="+14155551234",
            agent_session_id=agent_session_id,
            privacy_mode=privacy,
        )
        session.add(call)
        await session.commit()
        return call.id


async def put_transcript(
    client: httpx.AsyncClient, headers: dict[str, str], call_id: str, **body: Any
) -> httpx.Response:
    return await client.put(f"/v1/calls/{call_id}/transcript", json=body, headers=headers)


async def write(
    client: httpx.AsyncClient, headers: dict[str, str], call_id: str, **body: Any
) -> dict[str, Any]:
    response = await put_transcript(client, headers, call_id, **body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def said(*sentences: str) -> list[dict[str, Any]]:
    """One caller segment per sentence, two seconds each."""
    return [
        {"speaker": "caller", "text": sentence, "start": 2.0 * i, "end": 2.0 * i + 2}
        for i, sentence in enumerate(sentences)
    ]


async def search_page(
    client: httpx.AsyncClient, headers: dict[str, str], q: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        "/v1/transcripts/search", params={"q": q, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert set(page) == {"data", "next_cursor"}
    return page


async def search(
    client: httpx.AsyncClient, headers: dict[str, str], q: str, **params: Any
) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = (await search_page(client, headers, q, **params))["data"]
    return hits


async def fts_rows(app: FastAPI, transcript_id: str) -> int | None:
    """How many SQLite search-index rows name the transcript (None on PostgreSQL)."""
    if app.state.db.dialect != "sqlite":
        return None
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM transcripts_fts WHERE transcript_id = :id"),
            {"id": transcript_id},
        )
        return int(count or 0)


async def events_of(app: FastAPI, tenant: Tenant) -> list[dict[str, Any]]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "transcription.updated")
            .order_by(OutboxEvent.id)
        )
        return list(rows)


# ---------------------------------------------------------------- write and read


async def test_write_then_read_as_json_and_text(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)

    written = await write(client, tenant.headers, call_id, segments=GREETING)

    assert written["id"].startswith("trans_")
    assert written["call_id"] == call_id
    assert written["language"] == "en-US"
    assert written["search_config"] == "english"
    assert written["speaker_labels_enabled"] is True
    assert written["status"] == "processing"
    assert [s["speaker"] for s in written["segments"]] == ["caller", "recipient"]  # by start
    assert written["segments"][0] == GREETING[1]
    assert written["word_count"] == 12
    assert written["duration_seconds"] == 7.5
    assert written["completed_at"] is None
    assert written["expires_at"] is None
    by_call = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    assert by_call.json() == written
    by_id = await client.get(f"/v1/transcripts/{written['id']}", headers=tenant.headers)
    assert by_id.json() == written

    plain = await client.get(f"/v1/calls/{call_id}/transcript.txt", headers=tenant.headers)
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/plain")
    assert plain.text == (
        "[00:02.5] caller: Hello, is this customer service?\n"
        "[00:05.2] recipient: Yes, how can I help you today?\n"
    )
    assert await fts_rows(app, written["id"]) in (1, None)


async def test_plain_text_without_speaker_labels_and_past_an_hour(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    segment = {"speaker": "agent", "text": "Still there?\nHello?", "start": 3725.04, "end": 3727}
    await write(client, tenant.headers, call_id, speaker_labels_enabled=False, segments=[segment])
    plain = await client.get(f"/v1/calls/{call_id}/transcript.txt", headers=tenant.headers)
    assert plain.text == "[1:02:05.0] Still there? Hello?\n"


async def test_append_adds_segments_in_time_order_and_recounts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    first = await write(client, tenant.headers, call_id, segments=[GREETING[0]])
    assert (first["word_count"], first["duration_seconds"]) == (7, 7.5)

    late = {"speaker": "caller", "text": "I need a refund please", "start": 9, "end": 12.25}
    appended = await write(
        client, tenant.headers, call_id, mode="append", segments=[late, GREETING[1]]
    )

    assert appended["id"] == first["id"]
    assert [s["start"] for s in appended["segments"]] == [2.5, 5.2, 9]
    assert appended["word_count"] == 5 + 7 + 5
    assert appended["duration_seconds"] == 12.25
    assert [h["transcript_id"] for h in await search(client, tenant.headers, "refund")] == [
        first["id"]
    ]

    replaced = await write(client, tenant.headers, call_id, segments=[GREETING[1]])
    assert replaced["id"] == first["id"]
    assert replaced["segments"] == [GREETING[1]]
    assert (replaced["word_count"], replaced["duration_seconds"]) == (5, 4.8)
    assert await search(client, tenant.headers, "refund") == []
    assert await fts_rows(app, first["id"]) in (1, None)

    # Omitted fields keep their values; an empty replace clears the segments.
    kept = await write(client, tenant.headers, call_id, language="fr-FR")
    assert (kept["language"], kept["segments"]) == ("fr-FR", [GREETING[1]])
    assert kept["search_config"] == "french"
    emptied = await write(client, tenant.headers, call_id, segments=[])
    assert (emptied["language"], emptied["segments"], emptied["word_count"]) == ("fr-FR", [], 0)
    assert emptied["duration_seconds"] == 0


async def test_completion_starts_the_retention_period_and_the_org_can_change_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with use_clock(FrozenClock(start)) as clock:
        call_id = await make_call(app, tenant)
        await write(client, tenant.headers, call_id, segments=GREETING)
        assert isinstance(clock, FrozenClock)
        clock.advance(60)
        done = await write(client, tenant.headers, call_id, status="completed")
        assert done["status"] == "completed"
        assert done["completed_at"] == "2026-03-01T12:01:00Z"
        assert done["expires_at"] == "2026-03-31T12:01:00Z"  # 30 days by default
        assert done["segments"] == [GREETING[1], GREETING[0]]  # status alone keeps segments

        # Appending to a completed transcript does not restart its retention period.
        clock.advance(60)
        again = await write(
            client, tenant.headers, call_id, mode="append", status="completed", segments=[]
        )
        assert (again["completed_at"], again["expires_at"]) == (
            done["completed_at"],
            done["expires_at"],
        )

        patched = await client.patch(
            "/v1/organizations/current",
            json={"settings": {"transcript_retention_days": 7}},
            headers=tenant.headers,
        )
        assert patched.status_code == 200, patched.text
        other_call = await make_call(app, tenant)
        short = await write(
            client, tenant.headers, other_call, segments=GREETING, status="completed"
        )
        assert short["expires_at"] == "2026-03-08T12:02:00Z"

        failed_call = await make_call(app, tenant)
        failed = await write(client, tenant.headers, failed_call, status="failed")
        assert failed["completed_at"] is None
        assert failed["expires_at"] == "2026-03-08T12:02:00Z"


@pytest.mark.parametrize(
    ("org_settings", "expected"),
    [
        ({}, 30),
        ({"transcript_retention_days": 7}, 7),
        ({"transcript_retention_days": 0}, 30),
        ({"transcript_retention_days": "7"}, 30),
        ({"transcript_retention_days": True}, 30),
        ({"transcript_retention_days": 10_000}, 30),
    ],
)
def test_retention_days_for(org_settings: dict[str, Any], expected: int) -> None:
    assert transcripts.retention_days_for(org_settings, 30) == expected


async def test_each_write_announces_itself_without_the_words(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    private_call = await make_call(app, tenant, privacy=True)
    first = await write(client, tenant.headers, call_id, segments=GREETING)
    await write(client, tenant.headers, call_id, status="completed")
    private = await write(client, tenant.headers, private_call, segments=GREETING)

    assert await events_of(app, tenant) == [
        {
            "transcript_id": first["id"],
            "call_id": call_id,
            "status": "processing",
            "word_count": 12,
        },
        {"transcript_id": first["id"], "call_id": call_id, "status": "completed", "word_count": 12},
        {"transcript_id": private["id"], "call_id": private_call},
    ]


# ------------------------------------------------------------------------ search


async def test_search_ranks_better_matches_first_with_snippets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    once, thrice, never, elsewhere = (
        await make_call(app, tenant),
        await make_call(app, tenant),
        await make_call(app, tenant),
        await make_call(app, other),
    )
    weak = await write(
        client,
        tenant.headers,
        once,
        segments=said(
            "Hello, I am calling about my account.",
            "The invoice from March looks wrong and I may want a refund.",
            "Also the address on file is old and the phone number changed.",
        ),
    )
    strong = await write(
        client,
        tenant.headers,
        thrice,
        segments=said("Refund, refund!", "I want my REFUND for the invoice now."),
    )
    await write(client, tenant.headers, never, segments=said("Just checking opening hours."))
    foreign = await write(
        client, other.headers, elsewhere, segments=said("refund refund refund refund")
    )

    hits = await search(client, tenant.headers, "refund")

    assert [h["transcript_id"] for h in hits] == [strong["id"], weak["id"]]
    assert hits[0]["rank"] > hits[1]["rank"] > 0
    assert hits[0]["call_id"] == thrice
    assert all("**refund**" in h["snippet"].lower() for h in hits)
    assert len(hits[1]["snippet"]) < len(" ".join(s["text"] for s in weak["segments"]))
    # Every word must match; case does not matter; the other organization is invisible.
    assert [h["transcript_id"] for h in await search(client, tenant.headers, "INVOICE march")] == [
        weak["id"]
    ]
    assert await search(client, tenant.headers, "refund hours") == []
    assert [h["transcript_id"] for h in await search(client, other.headers, "refund")] == [
        foreign["id"]
    ]
    assert [
        h["transcript_id"] for h in await search(client, tenant.headers, "refund", limit=1)
    ] == [strong["id"]]


@pytest.mark.parametrize(
    "query",
    [
        *('"', "AND OR (", "*", "refund*", "NEAR(refund", 'refund" OR "x', "text:refund"),
        *("^", "-", "'", "\\", "a" * 200, "(((", ")", "NOT", "refund AND", "\u00e9t\u00e9"),
        "\U0001f600",
    ],
)
async def test_search_accepts_any_text(app: FastAPI, client: httpx.AsyncClient, query: str) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    await write(client, tenant.headers, call_id, segments=said("I want a refund this summer"))

    hits = await search(client, tenant.headers, query)

    assert all(h["call_id"] == call_id for h in hits)


async def test_search_query_is_validated(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    bad: list[dict[str, str | int]] = [
        {},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "a", "limit": 0},
        {"q": "a", "limit": 101},
        {"q": "a", "cursor": "!!!"},
        {"q": "a", "cursor": encode_cursor("not a position")},
        {"q": "a", "cursor": encode_cursor("nan|trans_x")},
        {"q": "a", "cursor": encode_cursor("1.5|")},
    ]
    for params in bad:
        response = await client.get("/v1/transcripts/search", params=params, headers=tenant.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)


async def test_punctuation_and_control_characters_find_the_words(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    written = await write(client, tenant.headers, call_id, segments=said("refund the invoice"))
    for query in ('"refund"', "refund\tinvoice\n", "(invoice)"):
        hits = await search(client, tenant.headers, query)
        assert [h["transcript_id"] for h in hits] == [written["id"]], query


async def test_english_search_stems_and_ignores_stop_words(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    called, refunds, greeting = [await make_call(app, tenant) for _ in range(3)]
    called_t = await write(client, tenant.headers, called, segments=said("I called yesterday."))
    refunds_t = await write(
        client, tenant.headers, refunds, segments=said("Both refunds were processed.")
    )
    greeting_t = await write(
        client, tenant.headers, greeting, segments=said("This is the help desk.")
    )

    async def found(q: str) -> list[str]:
        return [h["transcript_id"] for h in await search(client, tenant.headers, q)]

    assert await found("calling") == [called_t["id"]]
    assert await found("CALLS") == [called_t["id"]]
    assert await found("refund") == [refunds_t["id"]]
    assert await found("processing refunding") == [refunds_t["id"]]
    # Stop words alone find nothing, and do not stop the other words from matching.
    for only_stop_words in ("the", "The", "this is the", "were", "don't"):
        assert await found(only_stop_words) == [], only_stop_words
    assert await found("the desk") == [greeting_t["id"]]
    assert await found("was the refund") == [refunds_t["id"]]
    snippet = (await search(client, tenant.headers, "calling"))[0]["snippet"]
    assert "**called**" in snippet


async def test_each_transcript_is_searched_in_its_own_language(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    german_call, czech_call, english_call = [await make_call(app, tenant) for _ in range(3)]
    german = await write(
        client,
        tenant.headers,
        german_call,
        language="de-DE",
        segments=said("Ich habe die Rechnungen gestern bezahlt."),
    )
    czech = await write(
        client,
        tenant.headers,
        czech_call,
        language="cs",
        segments=said("Dobrý den, volám kvůli faktuře."),
    )
    english = await write(client, tenant.headers, english_call, segments=said("The die was cast."))
    assert (german["search_config"], czech["search_config"], english["search_config"]) == (
        "german",
        "simple",
        "english",
    )
    postgres = app.state.db.dialect == "postgresql"

    async def found(q: str) -> set[str]:
        return {h["transcript_id"] for h in await search(client, tenant.headers, q)}

    # Words as written match in every language; "die" is only a German stop word.
    assert await found("Rechnungen") == {german["id"]}
    assert await found("faktuře") == {czech["id"]}
    assert await found("die") == ({english["id"]} if postgres else {german["id"], english["id"]})
    if postgres:
        # German stemming: singular and plural meet; Czech has no configuration.
        assert await found("Rechnung") == {german["id"]}
        assert await found("faktura") == set()
        assert await found("fakture") == set()
    else:
        # Porter stems English only; diacritics are folded on SQLite.
        assert await found("Rechnung") == set()
        assert await found("fakture") == {czech["id"]}

    # A new language re-indexes the transcript under its configuration.
    relabelled = await write(client, tenant.headers, german_call, language="en-GB")
    assert relabelled["search_config"] == "english"
    assert await found("die") == {german["id"], english["id"]}
    assert await found("gestern") == {german["id"]}


async def test_search_pages_follow_the_cursor_in_rank_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    written = []
    for count in range(1, 8):
        call_id = await make_call(app, tenant)
        sentences = ["refund " * count, *["filler words here"] * (8 - count)]
        written.append(await write(client, tenant.headers, call_id, segments=said(*sentences)))
    everything = await search(client, tenant.headers, "refund", limit=100)
    assert len(everything) == 7
    ranks = [hit["rank"] for hit in everything]
    assert ranks == sorted(ranks, reverse=True)
    assert everything[0]["transcript_id"] == written[-1]["id"]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await search_page(client, tenant.headers, "refund", **params)
        seen += [hit["transcript_id"] for hit in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [hit["transcript_id"] for hit in everything]

    # Equal ranks are ordered by id, so a page boundary between them loses nothing.
    twins = []
    for _ in range(3):
        call_id = await make_call(app, tenant)
        twins.append(await write(client, tenant.headers, call_id, segments=said("twin words")))
    first = await search_page(client, tenant.headers, "twin", limit=2)
    second = await search_page(client, tenant.headers, "twin", cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    paged = [h["transcript_id"] for h in first["data"] + second["data"]]
    assert sorted(paged) == sorted(t["id"] for t in twins)
    assert len(set(paged)) == 3


# ---------------------------------------------------------------- expiry, erasure


async def test_expiry_job_removes_exactly_the_expired_transcripts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with use_clock(FrozenClock(start)) as clock:
        assert isinstance(clock, FrozenClock)
        old_call, newer_call, open_call = [await make_call(app, tenant) for _ in range(3)]
        sentence = said("please refund the order")
        old = await write(client, tenant.headers, old_call, segments=sentence, status="completed")
        clock.advance(10 * 86_400)
        newer = await write(
            client, tenant.headers, newer_call, segments=sentence, status="completed"
        )
        still_open = await write(client, tenant.headers, open_call, segments=sentence)
        assert len(await search(client, tenant.headers, "refund")) == 3

        clock.set(start + timedelta(days=30, seconds=1))
        # Expired is gone for readers at once, before the job deletes it.
        assert {h["transcript_id"] for h in await search(client, tenant.headers, "refund")} == {
            newer["id"],
            still_open["id"],
        }
        gone = await client.get(f"/v1/transcripts/{old['id']}", headers=tenant.headers)
        assert gone.status_code == 404

        # An operator's job: it runs for every organization at once.
        expire = jobs.get_job("calls.expire_transcripts")
        run = await jobs.run_job(app.state.db, expire)
        assert (run.status, run.rows) == ("succeeded", 1)

        async with app.state.db.sessionmaker() as session:
            left = set(await session.scalars(select(Transcript.id)))
        assert left == {newer["id"], still_open["id"]}
        assert await fts_rows(app, old["id"]) in (0, None)
        assert await fts_rows(app, newer["id"]) in (1, None)

        again = await jobs.run_job(app.state.db, expire)
        assert (again.status, again.rows) == ("succeeded", 0)

        # The call keeps its place: a new transcript can be written for it.
        fresh = await write(client, tenant.headers, old_call, segments=sentence)
        assert fresh["id"] != old["id"]


async def test_writing_to_an_expired_transcript_starts_a_new_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with use_clock(FrozenClock(start)) as clock:
        assert isinstance(clock, FrozenClock)
        call_id = await make_call(app, tenant)
        old = await write(client, tenant.headers, call_id, segments=GREETING, status="completed")
        clock.advance(31 * 86_400)
        new = await write(client, tenant.headers, call_id, mode="append", segments=said("again"))

    assert new["id"] != old["id"]
    assert (new["status"], new["expires_at"], new["word_count"]) == ("processing", None, 1)
    assert await search(client, tenant.headers, "customer") == []
    assert await fts_rows(app, old["id"]) in (0, None)


async def test_expiry_job_works_in_batches(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with use_clock(FrozenClock(start)):
        calls = [await make_call(app, tenant) for _ in range(5)]
        for call_id in calls:
            await write(client, tenant.headers, call_id, segments=said("hi"), status="completed")
    async with app.state.db.sessionmaker() as session:
        later = start + timedelta(days=31)
        assert await transcripts.delete_expired(session, now=later, batch_size=2) == 2
        assert await transcripts.delete_expired(session, now=later, batch_size=2) == 2
        assert await transcripts.delete_expired(session, now=later, batch_size=2) == 1
        assert await transcripts.delete_expired(session, now=later, batch_size=2) == 0
        await session.commit()


async def test_erase_for_call_removes_transcript_and_index_entry(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    written = await write(client, tenant.headers, call_id, segments=said("secret refund"))
    async with app.state.db.sessionmaker() as session:
        await transcripts.erase_for_call(session, org_id=tenant.org_id, call_id=call_id)
        await transcripts.erase_for_call(session, org_id=tenant.org_id, call_id=call_id)
        await session.commit()

    response = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    assert response.status_code == 404
    assert await search(client, tenant.headers, "secret") == []
    assert await fts_rows(app, written["id"]) in (0, None)


# --------------------------------------------------------------------- isolation


async def test_another_organizations_calls_and_transcripts_are_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alpha = await make_tenant(app)
    bravo = await make_tenant(app)
    call_id = await make_call(app, alpha)
    written = await write(client, alpha.headers, call_id, segments=GREETING)
    never_call, never_transcript = "call_" + "0" * 26, "trans_" + "0" * 26

    for path in (
        "/v1/calls/{call}/transcript",
        "/v1/calls/{call}/transcript.txt",
        "/v1/transcripts/{transcript}",
    ):
        answers = []
        for call, transcript in ((call_id, written["id"]), (never_call, never_transcript)):
            url = path.format(call=call, transcript=transcript)
            answers.append(await client.get(url, headers=bravo.headers))
        assert [a.status_code for a in answers] == [404, 404]
        assert {**answers[0].json(), "instance": None} == {**answers[1].json(), "instance": None}
        assert answers[0].headers["content-type"].startswith(PROBLEM)
    overwrite = await put_transcript(client, bravo.headers, call_id, segments=said("mine now"))
    assert overwrite.status_code == 404
    assert await search(client, bravo.headers, "customer") == []

    unchanged = await client.get(f"/v1/calls/{call_id}/transcript", headers=alpha.headers)
    assert unchanged.json() == written


async def test_an_agent_session_reaches_only_its_own_calls(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    opened = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=tenant.headers
    )
    assert opened.status_code == 201, opened.text
    agent_id, agent = opened.json()["id"], auth(opened.json()["session_token"])
    own_call = await make_call(app, tenant, agent_session_id=agent_id)
    team_call = await make_call(app, tenant)

    own = await write(client, agent, own_call, segments=said("my refund"))
    team = await write(client, tenant.headers, team_call, segments=said("team refund"))

    assert (await client.get(f"/v1/transcripts/{own['id']}", headers=agent)).status_code == 200
    for response in (
        await put_transcript(client, agent, team_call, segments=said("taken")),
        await client.get(f"/v1/calls/{team_call}/transcript", headers=agent),
        await client.get(f"/v1/transcripts/{team['id']}", headers=agent),
    ):
        assert response.status_code == 404, response.text
    assert [h["transcript_id"] for h in await search(client, agent, "refund")] == [own["id"]]
    assert {h["transcript_id"] for h in await search(client, tenant.headers, "refund")} == {
        own["id"],
        team["id"],
    }


async def test_reading_needs_the_transcripts_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    await write(client, tenant.headers, call_id, segments=GREETING)
    calls_only = await create_key(client, tenant.api_key, scopes=["calls:read"])
    headers = auth(calls_only["key"])
    for url in (f"/v1/calls/{call_id}/transcript", "/v1/transcripts/search?q=hello"):
        response = await client.get(url, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/scope-missing"
    response = await put_transcript(client, headers, call_id, segments=said("no"))
    assert response.status_code == 403


# -------------------------------------------------------------------- bad input

BAD_BODIES: list[dict[str, Any]] = [
    {"segments": [{**GREETING[0], "end": 1.0}]},  # ends before it starts
    {"segments": [{**GREETING[0], "start": -1}]},
    {"segments": [{**GREETING[0], "confidence": 1.5}]},
    {"segments": [{**GREETING[0], "speaker": "x" * 41}]},
    {"segments": [{**GREETING[0], "speaker": "caller\nrecipient"}]},
    {"segments": [{**GREETING[0], "text": "x" * 5001}]},
    {"segments": [{**GREETING[0], "text": "nul \u0000 inside"}]},
    {"segments": [{**GREETING[0], "text": "   "}]},
    {"segments": [{**GREETING[0], "colour": "blue"}]},
    {"segments": [{"speaker": "caller", "text": "hi", "start": 0, "end": 1}] * 5001},
    {"segments": "hello"},
    {"status": "done"},
    {"mode": "merge"},
    {"language": "english please"},
    {"text": "raw text is not a field"},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_input_is_refused_and_nothing_changes(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    empty_call = await make_call(app, tenant)
    before = await write(client, tenant.headers, call_id, segments=GREETING)

    for target in (call_id, empty_call):
        response = await put_transcript(client, tenant.headers, target, **body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["errors"]

    after = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    assert after.json() == before
    missing = await client.get(f"/v1/calls/{empty_call}/transcript", headers=tenant.headers)
    assert missing.status_code == 404


async def test_appending_past_the_segment_limit_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    many = [{"speaker": "caller", "text": "hi", "start": i, "end": i + 1} for i in range(5000)]
    before = await write(client, tenant.headers, call_id, segments=many)
    assert before["word_count"] == 5000

    one_more = {"speaker": "caller", "text": "hi", "start": 5000, "end": 5001}
    response = await put_transcript(
        client, tenant.headers, call_id, mode="append", segments=[one_more]
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "segments"
    after = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    assert after.json()["word_count"] == 5000
    assert len(await events_of(app, tenant)) == 1


def _distinct_words(count: int) -> list[str]:
    """Single-character words, as many distinct ones as Unicode's CJK blocks allow."""
    blocks = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF)]
    alphabet = [chr(code) for low, high in blocks for code in range(low, high + 1)]
    return [alphabet[i % len(alphabet)] for i in range(count)]


async def test_text_up_to_the_indexable_limit_is_stored_and_past_it_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    call_id = await make_call(app, tenant)
    # The worst case for PostgreSQL's tsvector: as many distinct words as fit.
    words = iter(_distinct_words(transcripts.MAX_TEXT_CHARS // 2))
    segments: list[dict[str, Any]] = []
    total = -1
    while total + 5000 + 1 <= transcripts.MAX_TEXT_CHARS:
        line = " ".join(next(words) for _ in range(2500))
        segments.append({"speaker": "caller", "text": line, "start": len(segments), "end": 999})
        total += len(line) + 1
    stored = await write(client, tenant.headers, call_id, segments=segments)
    assert stored["word_count"] == 2500 * len(segments)
    hits = await search(client, tenant.headers, segments[0]["text"][:1])
    assert [h["transcript_id"] for h in hits] == [stored["id"]]

    more = {"speaker": "caller", "text": "x" * 5000, "start": 0, "end": 1}
    response = await put_transcript(client, tenant.headers, call_id, mode="append", segments=[more])
    assert response.status_code == 422, response.text
    assert "characters" in response.json()["errors"][0]["message"]
