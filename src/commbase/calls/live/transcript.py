"""The live transcript: each side's final utterances written as they happen.

One writer per call in a process, shared by its sockets (the agent's and the
carrier's: one transaction for both sides' lines, and no two writers racing to
append to one transcript). ``add`` never waits for the database: segments queue and a
task appends them in batches (what arrived within ``WRITE_EVERY_S``), so they are
searchable within a fraction of a second while relaying never stalls on a write.
``transcription.updated`` is recorded at most every ``ANNOUNCE_EVERY_S`` per writer,
and once more when the call's channel closes (which also marks the transcript
completed, starting its retention as for uploaded transcripts). A private call's
transcript is written too and erased with the call when it ends, as privacy mode
does today.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import MutableMapping
from typing import Any

import structlog
from sqlalchemy import select

from commbase.calls.live.service import LiveCall
from commbase.calls.models import Call
from commbase.calls.transcripts import appending
from commbase.calls.transcripts import service as transcripts
from commbase.calls.transcripts.enums import TranscriptStatus, WriteMode
from commbase.calls.transcripts.schemas import MAX_SEGMENT_TEXT, TranscriptWrite
from commbase.core.db import Database, database_unavailable
from commbase.core.errors import CommbaseError, Conflict
from commbase.identity import service as identity_service

log = structlog.get_logger("commbase.calls.live")
ANNOUNCE_EVERY_S = 2.0
REGISTRY_KEY = "live_transcripts"
# A line is searchable at most this long after it was said. Lines said within a
# second share one write (one transaction), which keeps 100 busy live calls from
# crowding the relay's event loop. A write appends the new lines in the database
# (``transcripts.appending``), whatever the transcript already holds.
WRITE_EVERY_S = 1.0
WRITE_ATTEMPTS = 10  # rounds a batch is tried (the database away) before it is dropped


class LiveTranscript:
    def __init__(self, database: Database, *, call: LiveCall, retention_default: int) -> None:
        self.database = database
        self.call = call
        self.retention_default = retention_default
        self.language: str | None = None
        self._language_written: str | None = None  # the language last stored
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._last_announced = 0.0
        self._unannounced = False
        self._wrote = False
        self._task = asyncio.create_task(self._run())
        self.users = 0  # sockets sharing this writer (``shared``)
        self._completed = False
        self._registry: MutableMapping[str, LiveTranscript] | None = None

    @classmethod
    def shared(
        cls,
        services: MutableMapping[str, Any],
        database: Database,
        *,
        call: LiveCall,
        retention_default: int,
    ) -> LiveTranscript:
        """The call's writer in this process, made by its first socket; each socket
        that takes it closes it once."""
        registry: MutableMapping[str, LiveTranscript] = services.setdefault(REGISTRY_KEY, {})
        writer = registry.get(call.id)
        if writer is None:
            writer = cls(database, call=call, retention_default=retention_default)
            writer._registry = registry
            registry[call.id] = writer
        writer.users += 1
        return writer

    def add(
        self,
        *,
        speaker: str,
        text: str,
        start: float,
        end: float,
        confidence: float | None = None,
    ) -> None:
        text = " ".join(text.split())[:MAX_SEGMENT_TEXT]
        if not text:
            return
        segment = {"speaker": speaker, "text": text, "start": start, "end": max(start, end)}
        if confidence is not None:
            segment["confidence"] = max(0.0, min(1.0, confidence))
        self._queue.put_nowait(segment)

    async def close(self, *, completed: bool) -> None:
        """Write what is queued, then announce (and complete) the transcript. A shared
        writer does so when its last socket closes it (completed if any said so)."""
        self._completed = self._completed or completed
        self.users -= 1
        if self.users > 0:
            return
        if self._registry is not None and self._registry.get(self.call.id) is self:
            del self._registry[self.call.id]
        completed = self._completed
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self._task
        if self._wrote and (self._unannounced or completed):
            await self._write([], announce=True, completed=completed)

    async def _run(self) -> None:
        pending: list[dict[str, Any]] = []  # taken from the queue, not yet written
        stop, failures = False, 0
        while True:
            if not pending:
                if stop:
                    return
                first = await self._queue.get()
                if first is None:
                    return
                pending.append(first)
            # Lines arriving together are written together: fewer transactions under load.
            await asyncio.sleep(WRITE_EVERY_S)
            while not stop and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    stop = True
                else:
                    pending.append(more)
            now = time.monotonic()
            announce = now - self._last_announced >= ANNOUNCE_EVERY_S
            try:
                await self._write(pending, announce=announce, completed=False)
            except Exception as exc:
                if not database_unavailable(exc):
                    # Refused, not unanswered (a line out of bounds): retrying the
                    # batch would fail the same way, so each line is tried alone.
                    await self._write_each(pending)
                    pending, failures = [], 0
                    self._unannounced = True  # the next round (or the close) announces
                    continue
                # The database did not answer: the lines wait for the next round.
                failures += 1
                log.warning(
                    "live transcript not written yet",
                    call_id=self.call.id,
                    lines=len(pending),
                    error=str(exc)[:200],
                )
                if failures < WRITE_ATTEMPTS:
                    continue
                log.error("live transcript lines lost", call_id=self.call.id, lines=len(pending))
            pending, failures = [], 0
            self._wrote = True
            if announce:
                self._last_announced = now
            self._unannounced = not announce

    async def _write_each(self, segments: list[dict[str, Any]]) -> None:
        """Write ``segments`` one by one, dropping (and logging) each one refused."""
        for segment in segments:
            try:
                await self._write([segment], announce=False, completed=False)
            except Exception as exc:
                log.error(
                    "live transcript line refused",
                    call_id=self.call.id,
                    start=segment.get("start"),
                    error=str(exc)[:200],
                )
            else:
                self._wrote = True

    async def _write(
        self, segments: list[dict[str, Any]], *, announce: bool, completed: bool
    ) -> None:
        for attempt in range(3):
            try:
                await self._append(segments, announce=announce, completed=completed)
                return
            except Conflict:
                # Both sides created the transcript at once; the retry appends to it.
                if attempt == 2:
                    raise
            except CommbaseError as exc:
                log.warning("live transcript not written", call_id=self.call.id, error=str(exc))
                return

    async def _append(
        self, segments: list[dict[str, Any]], *, announce: bool, completed: bool
    ) -> None:
        language = self.language if self.language != self._language_written else None
        async with self.database.sessionmaker() as session:
            if segments and not completed and language is None:
                # Lines after the stored ones, nothing else changed: added in the
                # database without reading the transcript (``appending``).
                checked = TranscriptWrite.model_validate({"segments": segments}).segments or []
                appended = await appending.append_segments(
                    session,
                    org_id=self.call.org_id,
                    call_id=self.call.id,
                    segments=[segment.model_dump() for segment in checked],
                )
                if appended is not None:
                    if announce:
                        await transcripts.announce(
                            session,
                            org_id=self.call.org_id,
                            call_id=self.call.id,
                            privacy_mode=self.call.privacy_mode,
                            transcript_id=appended.transcript_id,
                            status=appended.status,
                            word_count=appended.word_count,
                        )
                    await session.commit()
                    return
            call = await session.scalar(
                select(Call).where(Call.org_id == self.call.org_id, Call.id == self.call.id)
            )
            if call is None:  # a private call erased when it ended
                return
            retention_days = self.retention_default
            if completed:  # retention starts only then: the organization is read once
                org = await identity_service.get_organization(session, org_id=call.org_id)
                retention_days = transcripts.retention_days_for(
                    org.settings or {}, self.retention_default
                )
            data = TranscriptWrite.model_validate(
                {
                    "mode": WriteMode.APPEND,
                    "segments": segments,
                    "language": language,
                    "status": TranscriptStatus.COMPLETED if completed else None,
                }
            )
            await transcripts.write_transcript(
                session,
                call=call,
                data=data,
                retention_days=retention_days,
                announce=announce,
            )
            await session.commit()
        self._language_written = self.language or self._language_written
