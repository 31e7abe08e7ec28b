"""Video rooms' request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from commbase.calls.video.enums import RoomMode, RoomStatus
from commbase.core.schemas import AppSchema, ReadSchema

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class RoomCreate(AppSchema):
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    contact_id: Annotated[str, StringConstraints(max_length=40, pattern=r"^\w+$")] | None = None
    customer_name: Name | None = None
    mode: RoomMode = RoomMode.MESH


class GuestLinkCreate(AppSchema):
    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 24 * 3600)] | None = None


class GuestLinkRead(BaseModel):
    url: str
    token: str
    expires_at: datetime


class GuestLinksRevoked(BaseModel):
    room_id: str
    revoked_at: datetime = Field(
        description="Guest links issued before this are refused (403); later ones work"
    )


class RoomRead(ReadSchema):
    id: str
    call_id: str
    status: RoomStatus
    mode: RoomMode
    title: str | None
    customer_name: str | None
    contact_id: str | None
    created_at: datetime
    waiting_started_at: datetime | None
    agent_joined_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    waiting_seconds: int | None = Field(
        description="The first guest's join to the room connecting (an agent with them)"
    )
    response_seconds: int | None = Field(
        description="The room's creation to the first agent's join"
    )
    duration_seconds: int | None = None
    reconnections: int
    screen_share_used: bool
    screen_share_seconds: int
    quality_samples: int
    mos_score: float | None = None
    latency_ms: int | None = None
    jitter_ms: int | None = None
    packet_loss: float | None = None
    video_resolution: str | None = None
    quality: str | None = None
    problem_solved: bool | None
    outcome: str | None
    wrap_up_notes: str | None
    rating: int | None
    rating_comment: str | None
    guest_links_revoked_at: datetime | None = Field(
        default=None, description="When the guest links issued until then were last revoked"
    )
    # Only in the answer that created the room: its first guest link.
    guest_url: str | None = None
    guest_token: str | None = None
    guest_token_expires_at: datetime | None = None


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class SfuGrant(BaseModel):
    provider: str
    url: str
    token: str


class JoinGrant(BaseModel):
    room_id: str
    participant_id: str
    role: Literal["agent", "guest"]
    name: str | None = None
    access_token: str = Field(description="cb_vpt_...: for the signalling socket and quality")
    expires_at: datetime
    signal_url: str
    ice_servers: list[IceServer]
    sfu: SfuGrant | None = None
    reconnection: bool = Field(
        default=False, description="True when an earlier access token was resumed"
    )


class GuestJoin(AppSchema):
    token: Token
    name: Name | None = None
    access_token: Token | None = Field(
        default=None, description="The access token of an earlier join, to resume it"
    )


class MemberJoin(AppSchema):
    name: Name | None = None


class QualityCreate(AppSchema):
    rtt_ms: Annotated[int, Field(ge=0, le=60_000)] | None = None
    jitter_ms: Annotated[int, Field(ge=0, le=60_000)] | None = None
    packet_loss: Annotated[float, Field(ge=0, le=1)] | None = None
    bitrate_kbps: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    frame_width: Annotated[int, Field(ge=0, le=16_384)] | None = None
    frame_height: Annotated[int, Field(ge=0, le=16_384)] | None = None
    fps: Annotated[float, Field(ge=0, le=1000)] | None = None
    mos: Annotated[float, Field(ge=1, le=5)] | None = None


class Accepted(BaseModel):
    accepted: bool = True


class WrapUp(AppSchema):
    problem_solved: bool
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[\w .-]+$")]
    notes: Annotated[str, StringConstraints(max_length=4000)] | None = None


class RatingCreate(AppSchema):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None
