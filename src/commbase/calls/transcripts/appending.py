"""Appending segments to a stored transcript without reading or rewriting it.

``write_transcript`` used to read a transcript's segments, add the new ones, sort
them all and write everything back (segments, text, counts) on every write: a live
call's transcript, written every second, cost more with each line. When the new
segments come after the stored ones (sorted by ``(start, end)``, as lines said one
after another are), sorting the whole list changes nothing, so one ``UPDATE`` adds
them at the end in the database: the segments array gets the new ones
(``segments || new``), ``text`` its new lines, ``word_count`` and
``duration_seconds`` what they add -- the same content the whole rewrite would have
stored. The ``UPDATE`` itself checks that it may (the transcript exists and has not
expired, the first new segment comes after the last stored one, the sizes stay
within bounds) and changes nothing otherwise: the caller then takes the whole
rewrite, which handles every other case (and refuses what is too large).

A write retried after its commit's acknowledgement was lost (the live writer's
database connection dropping at the wrong moment) sends lines already stored: their
first does not come strictly after the stored last (a line timed exactly as the
stored last one also takes the rewrite), so the ``UPDATE`` refuses, and the whole
rewrite leaves out new lines identical to stored ones: an append is stored once
however often it is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.transcripts import fulltext
from commbase.calls.transcripts.schemas import MAX_SEGMENTS
from commbase.core.db import UTCDateTime
from commbase.core.time import utcnow

# PostgreSQL cannot index a tsvector over 1 MB; this keeps any text well below it.
MAX_TEXT_CHARS = 200_000

_POSTGRES = """
UPDATE transcripts SET
  segments = segments || CAST(:new AS jsonb),
  text = CASE WHEN jsonb_array_length(segments) = 0 THEN :spoken
              ELSE text || :newline || :spoken END,
  word_count = word_count + :words,
  duration_seconds = GREATEST(duration_seconds, :last_end),
  updated_at = :now
WHERE org_id = :org_id AND call_id = :call_id
  AND (expires_at IS NULL OR expires_at > :now)
  AND jsonb_array_length(segments) + :count <= :max_segments
  AND length(text) + (CASE WHEN jsonb_array_length(segments) = 0 THEN 0 ELSE 1 END)
      + :chars <= :max_chars
  AND (jsonb_array_length(segments) = 0
       OR CAST(segments -> -1 ->> 'start' AS float8) < :first_start
       OR (CAST(segments -> -1 ->> 'start' AS float8) = :first_start
           AND CAST(segments -> -1 ->> 'end' AS float8) < :first_end))
RETURNING id, status, word_count
"""
# SQLite keeps JSON as text: the new array's elements go before the stored one's "]".
_SQLITE = """
UPDATE transcripts SET
  segments = rtrim(segments, ']')
             || (CASE WHEN json_array_length(segments) = 0 THEN '' ELSE ',' END)
             || substr(:new, 2),
  text = CASE WHEN json_array_length(segments) = 0 THEN :spoken
              ELSE text || :newline || :spoken END,
  word_count = word_count + :words,
  duration_seconds = max(duration_seconds, :last_end),
  updated_at = :now
WHERE org_id = :org_id AND call_id = :call_id
  AND (expires_at IS NULL OR expires_at > :now)
  AND json_array_length(segments) + :count <= :max_segments
  AND length(text) + (CASE WHEN json_array_length(segments) = 0 THEN 0 ELSE 1 END)
      + :chars <= :max_chars
  AND (json_array_length(segments) = 0
       OR json_extract(segments, '$[#-1].start') < :first_start
       OR (json_extract(segments, '$[#-1].start') = :first_start
           AND json_extract(segments, '$[#-1].end') < :first_end))
RETURNING id, status, word_count
"""


@dataclass(frozen=True, slots=True)
class Appended:
    transcript_id: str
    status: str
    word_count: int


def sort_key(segment: dict[str, Any]) -> tuple[float, float]:
    return (segment["start"], segment["end"])


def same_line(segment: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two segments the same line: sent again, it is not stored twice."""
    return (segment["speaker"], float(segment["start"]), float(segment["end"]), segment["text"])


async def append_segments(
    session: AsyncSession, *, org_id: str, call_id: str, segments: list[dict[str, Any]]
) -> Appended | None:
    """Add ``segments`` (as ``Segment.model_dump()`` gives them) after the call's stored
    ones, keeping the search index current; None (nothing changed) when they cannot
    simply go at the end: the caller rewrites the transcript instead."""
    if not segments:
        return None
    segments = sorted(segments, key=sort_key)
    spoken = "\n".join(segment["text"] for segment in segments)
    sqlite = fulltext.dialect_of(session) == "sqlite"
    statement = text(_SQLITE if sqlite else _POSTGRES).bindparams(
        bindparam("now", type_=UTCDateTime())
    )
    row = (
        await session.execute(
            statement,
            {
                "new": json.dumps(segments),
                "spoken": spoken,
                "newline": "\n",
                "words": sum(len(segment["text"].split()) for segment in segments),
                "last_end": float(max(segment["end"] for segment in segments)),
                "now": utcnow(),
                "org_id": org_id,
                "call_id": call_id,
                "count": len(segments),
                "max_segments": MAX_SEGMENTS,
                "chars": len(spoken),
                "max_chars": MAX_TEXT_CHARS,
                "first_start": float(segments[0]["start"]),
                "first_end": float(segments[0]["end"]),
            },
        )
    ).first()
    if row is None:
        return None
    await fulltext.reindex(session, row.id)
    return Appended(transcript_id=row.id, status=row.status, word_count=row.word_count)
