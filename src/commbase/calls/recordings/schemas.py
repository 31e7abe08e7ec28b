"""Recordings API shapes."""

from __future__ import annotations

from datetime import datetime

from commbase.core.schemas import AppSchema, ReadSchema


class RecordingRead(ReadSchema):
    """A stored recording; its audio is at ``GET /v1/calls/{call_id}/recording``."""

    id: str
    call_id: str
    kind: str
    status: str
    duration_seconds: int | None
    size_bytes: int | None
    channels: int | None
    source: str | None
    started_at: datetime | None
    created_at: datetime


class RecordingList(AppSchema):
    data: list[RecordingRead]
