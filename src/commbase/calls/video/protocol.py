"""The signalling socket's frames (JSON text, one message each; at most 64 KiB).

From a participant (anything else answers an ``error`` frame):

    {"type": "offer", "to": PID, "sdp": "..."}
    {"type": "answer", "to": PID, "sdp": "..."}
    {"type": "candidate", "to": PID, "candidate": {"candidate", "sdpMid", "sdpMLineIndex"}}
    {"type": "screen_share", "active": true | false}
    {"type": "leave"}
    {"type": "ping"}

To a participant: welcome, peer_joined, peer_left, offer, answer, candidate (with
"from"), screen_share (with "from"), room_ended, pong, error {title, detail}.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

MAX_FRAME_BYTES = 64 * 1024
Pid = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^\w+$")]
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FRAME_BYTES)]


class CloseCode:
    NORMAL = 1000  # the room ended, or the participant left
    TOO_BIG = 1009  # a frame over MAX_FRAME_BYTES
    POLICY = 1008  # too many frames
    SERVER_ERROR = 1011  # the server failed while serving the socket
    AUTH = 4401  # no valid access token
    FORBIDDEN = 4403  # the token is for another room (or organization)
    REPLACED = 4409  # the same participant connected again elsewhere
    GONE = 4410  # the room has ended or the participant left it


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Description(_Frame):
    type: Literal["offer", "answer"]
    to: Pid
    sdp: Sdp


class IceCandidate(_Frame):
    candidate: Annotated[str, StringConstraints(max_length=4096)]
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=1024)] | None = None
    usernameFragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class Candidate(_Frame):
    type: Literal["candidate"]
    to: Pid
    candidate: IceCandidate | None = None  # None: end of candidates


class ScreenShare(_Frame):
    type: Literal["screen_share"]
    active: bool


class Leave(_Frame):
    type: Literal["leave"]


class Ping(_Frame):
    type: Literal["ping"]


Message = Annotated[
    Description | Candidate | ScreenShare | Leave | Ping, Field(discriminator="type")
]
_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)


class BadFrame(ValueError):
    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail


def parse(raw: str | bytes) -> Message:
    if len(raw) > MAX_FRAME_BYTES:
        raise BadFrame("frame_too_large", f"A frame holds at most {MAX_FRAME_BYTES} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadFrame("invalid_json", "Frames are JSON objects") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise BadFrame("invalid_message", 'A frame is a JSON object with a "type"')
    try:
        return _MESSAGE.validate_python(data)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise BadFrame(
            "invalid_message", f"Not a valid {data['type'][:20]!r} frame: {where}"[:500]
        ) from exc


def error(title: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "title": title, "detail": detail}
