"""Call transcripts: write segments, read them as JSON or text, search them, expire them.

Full-text search uses what each database does best. On PostgreSQL a GIN index
over ``to_tsvector('simple', text)`` keeps itself current. SQLite has no
expression indexes, so this module keeps the FTS5 table ``transcripts_fts`` in
step with every write and delete. Both are created by migration 0002, outside the
models, because they exist on one dialect only.

``text`` holds only the spoken words, one segment per line, so a search for
"caller" finds what someone said, not every speaker label.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    bindparam,
    column,
    delete,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import events
from commbase.calls.models import Call
from commbase.calls.transcripts.models import Transcript
from commbase.calls.transcripts.schemas import MAX_SEGMENTS, SearchHit, TranscriptWrite
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, ValidationFailed
from commbase.core.time import utcnow

# PostgreSQL cannot index a tsvector over 1 MB; this keeps any text well below it.
MAX_TEXT_CHARS = 200_000
MAX_RETENTION_DAYS = 3650
MAX_SEARCH_TERMS = 16
EXPIRY_BATCH = 500
HIGHLIGHT = "**"

_FTS = table("transcripts_fts", column("transcript_id"), column("org_id"), column("text"))
_FTS_TABLE: ColumnElement[Any] = literal_column("transcripts_fts")
# Written exactly as in the index definition, so the planner can use the index.
_PG_CONFIG: ColumnElement[Any] = literal_column("'simple'::regconfig")
_PG_HEADLINE = f'StartSel="{HIGHLIGHT}", StopSel="{HIGHLIGHT}", MaxWords=20, MinWords=8'
_WORD = re.compile(r"\w+")


def retention_days_for(org_settings: dict[str, Any], default: int) -> int:
    """Days a finished transcript is kept: the organization's setting, else ``default``."""
    days = org_settings.get("transcript_retention_days")
    # Organization settings are free-form JSON: ignore anything but a sensible day count.
    if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_RETENTION_DAYS:
        return days
    return default


# ------------------------------------------------------------------------ write


async def write_transcript(
    session: AsyncSession, *, call: Call, data: TranscriptWrite, retention_days: int
) -> Transcript:
    """Create or update ``call``'s transcript from ``data``; keeps the search index current."""
    now = utcnow()
    transcript = await _transcript_of(session, call=call)
    if transcript is not None and _expired(transcript, now):
        # Past retention but not yet collected by the job: start afresh.
        await _delete(session, [transcript.id])
        transcript = None
    segments = [segment.model_dump() for segment in data.segments or []]
    if transcript is not None and (data.mode == "append" or data.segments is None):
        segments = [*transcript.segments, *segments]
    segments.sort(key=lambda segment: (segment["start"], segment["end"]))
    spoken = "\n".join(segment["text"] for segment in segments)
    _check_size(segment_count=len(segments), text_chars=len(spoken))

    created = transcript is None
    if transcript is None:
        transcript = Transcript(org_id=call.org_id, call_id=call.id, status="processing")
    if data.language is not None:
        transcript.language = data.language
    if data.speaker_labels_enabled is not None:
        transcript.speaker_labels_enabled = data.speaker_labels_enabled
    transcript.segments = segments
    transcript.text = spoken
    transcript.word_count = sum(len(segment["text"].split()) for segment in segments)
    transcript.duration_seconds = max((segment["end"] for segment in segments), default=0.0)
    if data.status is not None:
        _set_status(transcript, data.status, now=now, retention_days=retention_days)

    if created:
        await _insert(session, transcript)
    else:
        await session.flush()
    await _index(session, transcript)
    await outbox.record(
        session, events.TRANSCRIPTION_UPDATED, _event_payload(transcript, call), org_id=call.org_id
    )
    return transcript


async def _transcript_of(session: AsyncSession, *, call: Call) -> Transcript | None:
    # Locked, so two appends to one transcript queue instead of losing one (PostgreSQL).
    return await session.scalar(
        select(Transcript)
        .where(Transcript.org_id == call.org_id, Transcript.call_id == call.id)
        .with_for_update()
    )


async def _insert(session: AsyncSession, transcript: Transcript) -> None:
    try:
        async with session.begin_nested():
            session.add(transcript)
    except IntegrityError as exc:
        raise Conflict(
            "Another request created this call's transcript at the same time; retry"
        ) from exc


def _check_size(*, segment_count: int, text_chars: int) -> None:
    if segment_count > MAX_SEGMENTS:
        raise ValidationFailed(
            f"A transcript holds at most {MAX_SEGMENTS} segments",
            errors=[
                {
                    "loc": ["body", "segments"],
                    "field": "segments",
                    "message": f"{segment_count} segments in all; at most {MAX_SEGMENTS}",
                }
            ],
        )
    if text_chars > MAX_TEXT_CHARS:
        raise ValidationFailed(
            f"A transcript holds at most {MAX_TEXT_CHARS} characters of text",
            errors=[
                {
                    "loc": ["body", "segments"],
                    "field": "segments",
                    "message": f"{text_chars} characters in all; at most {MAX_TEXT_CHARS}",
                }
            ],
        )


def _set_status(transcript: Transcript, status: str, *, now: datetime, retention_days: int) -> None:
    if status == transcript.status:
        return
    transcript.status = status
    transcript.completed_at = now if status == "completed" else None
    # A failed transcript may hold partial text: it expires like a completed one.
    finished = status in ("completed", "failed")
    transcript.expires_at = now + timedelta(days=retention_days) if finished else None


def _event_payload(transcript: Transcript, call: Call) -> dict[str, Any]:
    payload: dict[str, Any] = {"transcript_id": transcript.id, "call_id": call.id}
    if not call.privacy_mode:
        payload |= {"status": transcript.status, "word_count": transcript.word_count}
    return payload


# ------------------------------------------------------------------------- read


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(Transcript.expires_at.is_(None), Transcript.expires_at > now)


def _expired(transcript: Transcript, now: datetime) -> bool:
    return transcript.expires_at is not None and transcript.expires_at <= now


async def get_for_call(session: AsyncSession, *, org_id: str, call_id: str) -> Transcript:
    """The call's transcript unless it has expired; otherwise NotFound."""
    transcript = await session.scalar(
        select(Transcript).where(
            Transcript.org_id == org_id, Transcript.call_id == call_id, _live(utcnow())
        )
    )
    if transcript is None:
        raise NotFound("Transcript not found")
    return transcript


async def get_transcript(
    session: AsyncSession,
    *,
    org_id: str,
    transcript_id: str,
    agent_session_id: str | None = None,
) -> Transcript:
    """The transcript, if unexpired and (given an agent session) of that session's calls."""
    statement = select(Transcript).where(
        Transcript.org_id == org_id, Transcript.id == transcript_id, _live(utcnow())
    )
    if agent_session_id is not None:
        statement = _of_agent_session(statement, org_id=org_id, agent_session_id=agent_session_id)
    transcript = await session.scalar(statement)
    if transcript is None:
        raise NotFound("Transcript not found")
    return transcript


def _of_agent_session(statement: Select[Any], *, org_id: str, agent_session_id: str) -> Select[Any]:
    return statement.join(Call, Call.id == Transcript.call_id).where(
        Call.org_id == org_id, Call.agent_session_id == agent_session_id
    )


def as_plain_text(transcript: Transcript) -> str:
    """The transcript as lines of ``[mm:ss.s] speaker: text``."""
    lines = []
    for segment in transcript.segments:
        speaker = f"{segment['speaker']}: " if transcript.speaker_labels_enabled else ""
        words = " ".join(str(segment["text"]).split())  # one segment, one line
        lines.append(f"[{_timestamp(float(segment['start']))}] {speaker}{words}")
    return "".join(f"{line}\n" for line in lines)


def _timestamp(seconds: float) -> str:
    minutes, tenths = divmod(round(seconds * 10), 600)
    hours, minutes = divmod(minutes, 60)
    stamp = f"{minutes:02d}:{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{stamp}" if hours else stamp


# ----------------------------------------------------------------------- search


async def search(
    session: AsyncSession,
    *,
    org_id: str,
    query: str,
    limit: int,
    agent_session_id: str | None = None,
) -> list[SearchHit]:
    """The organization's unexpired transcripts matching ``query``, best first, with snippets."""
    # Control characters (NUL above all) cannot reach a text-search parser.
    query = "".join(char if char.isprintable() else " " for char in query)
    if _dialect(session) == "sqlite":
        match = _fts5_match(query)
        if match is None:
            return []
        statement = _sqlite_search(match)
    else:
        statement = _postgres_search(query)
    statement = statement.where(Transcript.org_id == org_id, _live(utcnow())).limit(limit)
    if agent_session_id is not None:
        statement = _of_agent_session(statement, org_id=org_id, agent_session_id=agent_session_id)
    rows = (await session.execute(statement)).all()
    return [
        SearchHit(
            transcript_id=row.id,
            call_id=row.call_id,
            snippet=row.snippet,
            rank=float(row.rank),
            created_at=row.created_at,
        )
        for row in rows
    ]


def _fts5_match(query: str) -> str | None:
    """The query's words as quoted FTS5 strings: every term must match, none is syntax."""
    terms = _WORD.findall(query)[:MAX_SEARCH_TERMS]
    return " ".join(f'"{term}"' for term in terms) or None


def _sqlite_search(match: str) -> Select[Any]:
    score = func.bm25(_FTS_TABLE, type_=Float)  # lower is better
    return (
        select(
            Transcript.id,
            Transcript.call_id,
            Transcript.created_at,
            func.snippet(_FTS_TABLE, 2, HIGHLIGHT, HIGHLIGHT, "…", 16).label("snippet"),
            (-score).label("rank"),
        )
        .select_from(_FTS)
        .join(Transcript, Transcript.id == _FTS.c.transcript_id)
        .where(_FTS_TABLE.op("MATCH")(match))
        .order_by(score, Transcript.created_at.desc())
    )


def _postgres_search(query: str) -> Select[Any]:
    # websearch_to_tsquery accepts any input: quotes, "or" and "-" work, nothing raises.
    tsquery = func.websearch_to_tsquery(_PG_CONFIG, query)
    document = func.to_tsvector(_PG_CONFIG, Transcript.text)
    rank = func.ts_rank(document, tsquery, type_=Float)
    return (
        select(
            Transcript.id,
            Transcript.call_id,
            Transcript.created_at,
            func.ts_headline(_PG_CONFIG, Transcript.text, tsquery, _PG_HEADLINE).label("snippet"),
            rank.label("rank"),
        )
        .where(document.op("@@")(tsquery))
        .order_by(rank.desc(), Transcript.created_at.desc())
    )


# ----------------------------------------------------------------------- delete


async def erase_for_call(session: AsyncSession, *, org_id: str, call_id: str) -> None:
    """Delete the call's transcript and its search index entry, if it has one."""
    ids = await session.scalars(
        select(Transcript.id).where(Transcript.org_id == org_id, Transcript.call_id == call_id)
    )
    await _delete(session, list(ids))


async def delete_expired(
    session: AsyncSession, *, now: datetime, batch_size: int = EXPIRY_BATCH
) -> int:
    """Delete up to ``batch_size`` transcripts expired by ``now``; returns how many."""
    ids = await session.scalars(
        select(Transcript.id)
        .where(Transcript.expires_at <= now)
        .order_by(Transcript.expires_at)
        .limit(batch_size)
    )
    expired = list(ids)
    await _delete(session, expired)
    return len(expired)


async def _delete(session: AsyncSession, transcript_ids: Sequence[str]) -> None:
    if not transcript_ids:
        return
    await _unindex(session, transcript_ids)
    await session.execute(delete(Transcript).where(Transcript.id.in_(transcript_ids)))


# --------------------------------------------------------- SQLite search index


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _fts_rowid(transcript_id: str) -> int:
    """The transcript's row in ``transcripts_fts``, derived from its id.

    FTS5 finds a row by an UNINDEXED column only by scanning the table; a rowid
    computed from the id makes every index update a primary-key operation.
    """
    digest = hashlib.blake2b(transcript_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # a positive signed 64-bit integer


async def _index(session: AsyncSession, transcript: Transcript) -> None:
    if _dialect(session) != "sqlite":
        return
    rowid = _fts_rowid(transcript.id)
    await session.execute(
        text("DELETE FROM transcripts_fts WHERE rowid = :rowid"), {"rowid": rowid}
    )
    await session.execute(
        text(
            "INSERT INTO transcripts_fts (rowid, transcript_id, org_id, text) "
            "VALUES (:rowid, :transcript_id, :org_id, :text)"
        ),
        {
            "rowid": rowid,
            "transcript_id": transcript.id,
            "org_id": transcript.org_id,
            "text": transcript.text,
        },
    )


async def _unindex(session: AsyncSession, transcript_ids: Sequence[str]) -> None:
    if _dialect(session) != "sqlite":
        return
    await session.execute(
        text("DELETE FROM transcripts_fts WHERE rowid IN :rowids").bindparams(
            bindparam("rowids", expanding=True)
        ),
        {"rowids": [_fts_rowid(transcript_id) for transcript_id in transcript_ids]},
    )
