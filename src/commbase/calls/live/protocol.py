"""The live channel's agent protocol: JSON text frames, one message each.

From the agent (validated here; anything else answers an ``error`` frame):

    {"type": "say", "text": "Hello, ", "last": false}     a token of speech; last ends the turn
    {"type": "play", "url": "https://.../hold.mp3"}         play audio to the callee
    {"type": "dtmf", "digits": "12#"}                       send touch tones
    {"type": "transfer", "to": "+14155550100"}              hand the call to a number...
    {"type": "transfer", "member_id": "usr_..."}            ...or to a member (escalation)
    {"type": "hangup"}                                      end the call
    {"type": "language", "language": "es-ES"}               switch speech and transcription

Audio mode (a call with ``live_audio``: Twilio Media Streams), instead of say, play,
dtmf and language:

    {"type": "audio", "payload": "<base64 μ-law 8 kHz>"}     audio to the callee
    {"type": "mark", "name": "end-of-reply"}                 heard back once played
    {"type": "clear"}                                       drop audio not yet played

To the agent (``ServerFrame`` builders below):

    ready, status, utterance, dtmf, interrupt, error, ended
    audio mode: audio {payload, timestamp, track}, mark {name}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from commbase.core.schemas import AppSchema

MAX_FRAME_BYTES = 8192  # one frame; a long reply is streamed as several say tokens
MAX_SAY_CHARS = 4000  # one turn of the agent, all tokens together
MAX_FRAMES_PER_SECOND = 50  # per connection, averaged over a 2 s window
MAX_AUDIO_FRAMES_PER_SECOND = 250  # audio mode: 20 ms frames, marks and room to catch up
MAX_AUDIO_CHARS = 6000  # one audio frame's base64 payload (about 560 ms of μ-law)

Language = Annotated[
    str, StringConstraints(max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
]
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]


class Say(AppSchema):
    # Tokens keep their spaces: "Hello, " + "world" must not become "Hello,world".
    model_config = AppSchema.model_config | {"str_strip_whitespace": False}

    type: Literal["say"]
    text: Annotated[str, StringConstraints(max_length=1000)]
    last: bool = True
    interruptible: bool = True


class Play(AppSchema):
    type: Literal["play"]
    url: Annotated[str, StringConstraints(max_length=1000, pattern=r"^https://\S+$")]
    loop: Annotated[int, Field(ge=1, le=10)] = 1


class Dtmf(AppSchema):
    type: Literal["dtmf"]
    digits: Annotated[str, StringConstraints(pattern=r"^[0-9*#wW]{1,32}$")]


class Transfer(AppSchema):
    type: Literal["transfer"]
    to: E164 | None = None
    member_id: Annotated[str, StringConstraints(max_length=40, pattern=r"^usr_\w+$")] | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if (self.to is None) == (self.member_id is None):
            raise ValueError("transfer needs exactly one of to (E.164) or member_id")
        return self


class Hangup(AppSchema):
    type: Literal["hangup"]
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class SetLanguage(AppSchema):
    type: Literal["language"]
    language: Language


# Audio mode (Twilio Media Streams): μ-law 8 kHz mono, base64; 20 ms is 216 characters.
Base64 = Annotated[
    str, StringConstraints(min_length=4, max_length=MAX_AUDIO_CHARS, pattern=r"^[A-Za-z0-9+/]+=*$")
]
MarkName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Audio(AppSchema):
    type: Literal["audio"]
    payload: Base64


class Mark(AppSchema):
    type: Literal["mark"]
    name: MarkName


class Clear(AppSchema):
    type: Literal["clear"]


AgentMessage = Annotated[
    Say | Play | Dtmf | Transfer | Hangup | SetLanguage | Audio | Mark | Clear,
    Field(discriminator="type"),
]
TEXT_ONLY = (Say, Play, Dtmf, SetLanguage)  # not carried by Media Streams
AUDIO_ONLY = (Audio, Mark, Clear)
_AGENT_MESSAGE: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)


class BadFrame(ValueError):
    """A frame from the agent that cannot be used; ``code`` names why."""

    def __init__(self, code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors or []


def parse_agent_frame(raw: str | bytes) -> AgentMessage:
    """The agent's message in ``raw``; ``BadFrame`` if it is too big, not JSON or invalid."""
    if len(raw) > MAX_FRAME_BYTES:
        raise BadFrame("frame_too_large", f"A frame holds at most {MAX_FRAME_BYTES} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadFrame("invalid_json", "Frames are JSON objects") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise BadFrame("invalid_message", 'A frame is a JSON object with a "type"')
    try:
        return _AGENT_MESSAGE.validate_python(data)
    except ValidationError as exc:
        errors = [
            {"loc": [str(part) for part in e["loc"]], "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        kind = data["type"][:20]
        raise BadFrame("invalid_message", f"Not a valid {kind!r} message", errors) from exc


# ------------------------------------------------------------------ to the agent


def frame(kind: str, **fields: Any) -> bytes:
    """A frame to the agent, serialized once (the bus carries it as is)."""
    return orjson.dumps({"type": kind, **fields})


def utterance(
    *,
    text: str,
    final: bool,
    speaker: str = "callee",
    confidence: float | None = None,
    language: str | None = None,
    at: float | None = None,
) -> bytes:
    return frame(
        "utterance",
        speaker=speaker,
        text=text,
        final=final,
        confidence=confidence,
        language=language,
        at=at,
    )


def error(code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> bytes:
    return frame("error", code=code, detail=detail, errors=errors or [])


_SAFE_DIGITS = re.compile(r"^[0-9*#wW]{1,32}$")


def safe_digits(value: Any) -> str | None:
    """``value`` if it is a string of touch-tone digits, else None."""
    return value if isinstance(value, str) and _SAFE_DIGITS.match(value) else None


class CloseCode:
    """WebSocket close codes the live channel uses (RFC 6455 and the 4000 private range)."""

    NORMAL = 1000  # the call ended
    POLICY = 1008  # refused: bad credentials, not your call, too many frames
    TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013  # the database or Redis failed under an open socket
    CALL_NOT_LIVE = 4409  # the call has ended or cannot take an agent
    REPLACED = 4000  # another connection of the same agent took over
