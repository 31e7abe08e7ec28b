"""API shapes for transcripts: ``TranscriptWrite`` in, ``TranscriptRead`` and ``SearchHit`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from commbase.calls.transcripts.enums import SearchConfig, TranscriptStatus, WriteMode
from commbase.core.schemas import AppSchema, ReadSchema

MAX_SEGMENTS = 5000
MAX_SEGMENT_TEXT = 5000
MAX_OFFSET_S = 7 * 86_400  # no call runs for a week


def _one_line(value: str) -> str:
    # A speaker label starts each line of the plain-text transcript.
    if not value.isprintable():
        raise ValueError("speaker must be printable text on one line")
    return value


Speaker = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40),
    AfterValidator(_one_line),
    Field(description='"caller", "recipient", "agent" or another short label'),
]
Language = Annotated[
    str, StringConstraints(max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
]
Offset = Annotated[float, Field(ge=0, le=MAX_OFFSET_S, description="Seconds from call start")]


class Segment(AppSchema):
    speaker: Speaker
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SEGMENT_TEXT)]
    start: Offset
    end: Offset
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Segment:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class TranscriptWrite(AppSchema):
    """Create or update a call's transcript; omitted fields keep their current value."""

    mode: WriteMode = Field(
        default=WriteMode.REPLACE,
        description="Replace every segment, or add these to the ones stored",
    )
    language: Language | None = Field(
        default=None, description="BCP 47; default en-US. Picks how the text is searched"
    )
    speaker_labels_enabled: bool | None = None
    status: TranscriptStatus | None = Field(
        default=None, description="completed starts the retention period"
    )
    segments: list[Segment] | None = Field(
        default=None, max_length=MAX_SEGMENTS, description="Omitted: the stored ones stay"
    )


class SegmentRead(ReadSchema):
    speaker: str
    text: str
    start: float
    end: float
    confidence: float | None = None


class TranscriptRead(ReadSchema):
    id: str
    call_id: str
    language: str
    search_config: SearchConfig = Field(
        description="How search stems and which stop words it ignores, chosen from language: "
        "english, german, ... or simple (no stemming, no stop words) where none fits"
    )
    speaker_labels_enabled: bool
    status: TranscriptStatus
    segments: list[SegmentRead]
    word_count: int
    duration_seconds: float
    created_at: datetime
    completed_at: datetime | None
    expires_at: datetime | None


class SearchHit(ReadSchema):
    transcript_id: str
    call_id: str
    snippet: str = Field(description="Matching words are wrapped in ** ... **")
    rank: float = Field(description="Relevance; higher is better")
    created_at: datetime
