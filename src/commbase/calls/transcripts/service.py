"""Call transcripts: write segments, read them as JSON or text, search them, expire them.

Full-text search, in each transcript's language, is described in ``fulltext``:
a GIN index on PostgreSQL, an FTS5 table on SQLite that every write and delete
here keeps in step. Both are created by migrations (0002, 0013), outside the
models, because they exist on one dialect only.

``text`` holds only the spoken words, one segment per line, so a search for
"caller" finds what someone said, not every speaker label.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import events
from commbase.calls.models import Call
from commbase.calls.transcripts import appending, fulltext
from commbase.calls.transcripts.appending import append_segments, same_line, sort_key
from commbase.calls.transcripts.enums import TranscriptStatus, WriteMode
from commbase.calls.transcripts.models import Transcript
from commbase.calls.transcripts.schemas import MAX_SEGMENTS, SearchHit, TranscriptWrite
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, ValidationFailed
from commbase.core.pagination import PageParams
from commbase.core.time import utcnow

MAX_TEXT_CHARS = appending.MAX_TEXT_CHARS  # see there
MAX_RETENTION_DAYS = 3650
DEFAULT_LANGUAGE = "en-US"
EXPIRY_BATCH = 500


def retention_days_for(org_settings: dict[str, Any], default: int) -> int:
    """Days a finished transcript is kept: the organization's setting, else ``default``."""
    days = org_settings.get("transcript_retention_days")
    # Organization settings are free-form JSON: ignore anything but a sensible day count.
    if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_RETENTION_DAYS:
        return days
    return default


# ------------------------------------------------------------------------ write


async def write_transcript(
    session: AsyncSession,
    *,
    call: Call,
    data: TranscriptWrite,
    retention_days: int,
    announce: bool = True,
) -> Transcript:
    """Create or update ``call``'s transcript from ``data``; keeps the search index current.
    ``transcription.updated`` is recorded unless ``announce`` is False (the live channel
    writes every utterance at once but announces them at most every few seconds)."""
    if _appends_only(data):
        # New lines after the stored ones: added in the database (``appending``).
        appended = await append_segments(
            session,
            org_id=call.org_id,
            call_id=call.id,
            segments=[segment.model_dump() for segment in data.segments or []],
        )
        if appended is not None:
            if announce:
                await _announce(
                    session, call, appended.transcript_id, appended.status, appended.word_count
                )
            stored = await session.get(Transcript, appended.transcript_id, populate_existing=True)
            assert stored is not None
            return stored
    now = utcnow()
    transcript = await _transcript_of(session, call=call)
    if transcript is not None and _expired(transcript, now):
        # Past retention but not yet collected by the job: start afresh.
        await _delete(session, [transcript.id])
        transcript = None
    segments = [segment.model_dump() for segment in data.segments or []]
    if transcript is not None and (data.mode == WriteMode.APPEND or data.segments is None):
        stored_lines = {same_line(segment) for segment in transcript.segments}
        # A line already stored (an append sent again) is not added twice.
        segments = [
            *transcript.segments,
            *(segment for segment in segments if same_line(segment) not in stored_lines),
        ]
    segments.sort(key=sort_key)
    spoken = "\n".join(segment["text"] for segment in segments)
    _check_size(segment_count=len(segments), text_chars=len(spoken))

    created = transcript is None
    if transcript is None:
        transcript = Transcript(
            org_id=call.org_id,
            call_id=call.id,
            language=DEFAULT_LANGUAGE,
            status=TranscriptStatus.PROCESSING,
        )
    if data.language is not None:
        transcript.language = data.language
    if created or data.language is not None:
        transcript.search_config = await fulltext.choose_config(session, transcript.language)
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
    await fulltext.index(session, transcript)
    if announce:
        await _announce(session, call, transcript.id, transcript.status, transcript.word_count)
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


def _set_status(
    transcript: Transcript, status: TranscriptStatus, *, now: datetime, retention_days: int
) -> None:
    if status == transcript.status:
        return
    transcript.status = status
    transcript.completed_at = now if status == TranscriptStatus.COMPLETED else None
    # A failed transcript may hold partial text: it expires like a completed one.
    finished = status in (TranscriptStatus.COMPLETED, TranscriptStatus.FAILED)
    transcript.expires_at = now + timedelta(days=retention_days) if finished else None


def _appends_only(data: TranscriptWrite) -> bool:
    """Only adds segments: nothing else about the transcript changes."""
    return (
        data.mode == WriteMode.APPEND
        and bool(data.segments)
        and data.language is None
        and data.status is None
        and data.speaker_labels_enabled is None
    )


async def announce(
    session: AsyncSession,
    *,
    org_id: str,
    call_id: str,
    privacy_mode: bool,
    transcript_id: str,
    status: str,
    word_count: int,
) -> None:
    """Record ``transcription.updated`` (a private call's tells no status or words)."""
    payload: dict[str, Any] = {"transcript_id": transcript_id, "call_id": call_id}
    if not privacy_mode:
        payload |= {"status": status, "word_count": word_count}
    await outbox.record(session, events.TRANSCRIPTION_UPDATED, payload, org_id=org_id)


async def _announce(
    session: AsyncSession, call: Call, transcript_id: str, status: str, word_count: int
) -> None:
    await announce(
        session,
        org_id=call.org_id,
        call_id=call.id,
        privacy_mode=call.privacy_mode,
        transcript_id=transcript_id,
        status=status,
        word_count=word_count,
    )


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
    params: PageParams,
    agent_session_id: str | None = None,
) -> tuple[list[SearchHit], str | None]:
    """One page of the organization's unexpired transcripts matching ``query``, best
    first, with snippets, and the cursor of the next page (``params.after_id`` holds
    the cursor's content)."""
    # Control characters (NUL above all) cannot reach a text-search parser.
    query = "".join(char if char.isprintable() else " " for char in query)
    position = fulltext.parse_position(params.after_id) if params.after_id else None
    if fulltext.dialect_of(session) == "sqlite":
        match = fulltext.sqlite_match(query)
        if match is None:
            return [], None
        statement, rank = fulltext.sqlite_statement(match)
    else:
        configs = await fulltext.installed_configs(session)
        statement, rank = fulltext.postgres_statement(query, configs)
    statement = statement.where(Transcript.org_id == org_id, _live(utcnow()))
    if position is not None:
        statement = statement.where(fulltext.after(rank, position))
    if agent_session_id is not None:
        statement = _of_agent_session(statement, org_id=org_id, agent_session_id=agent_session_id)
    statement = statement.order_by(rank.desc(), Transcript.id.desc()).limit(params.limit + 1)
    rows = (await session.execute(statement)).all()
    hits = [
        SearchHit(
            transcript_id=row.id,
            call_id=row.call_id,
            snippet=row.snippet,
            rank=float(row.rank),
            created_at=row.created_at,
        )
        for row in rows[: params.limit]
    ]
    if len(rows) <= params.limit:
        return hits, None
    last = rows[params.limit - 1]
    return hits, fulltext.encode_position(float(last.rank), last.id)


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
    await fulltext.unindex(session, transcript_ids)
    await session.execute(delete(Transcript).where(Transcript.id.in_(transcript_ids)))
