"""Video rooms' closed sets of values."""

from __future__ import annotations

from enum import StrEnum

# A mesh room: every participant sends its media to every other one, so the
# browser's uplink and CPU grow with the room. Four is where that stops being
# comfortable on a laptop; bigger rooms go through an SFU (``mode: "sfu"``).
MESH_LIMIT = 4
SFU_LIMIT = 50  # participants in an SFU room at once (commbase's bound, not LiveKit's)


class RoomStatus(StrEnum):
    CREATED = "created"  # nobody joined yet
    WAITING = "waiting"  # a guest is in the waiting room, no agent yet
    CONNECTED = "connected"  # an agent and a guest were in the room together
    ENDED = "ended"


class RoomMode(StrEnum):
    MESH = "mesh"  # browsers connect to each other, signalling through commbase
    SFU = "sfu"  # browsers connect to the SFU (LiveKit) with its access token


class Role(StrEnum):
    AGENT = "agent"  # a member of the organization
    GUEST = "guest"  # the customer, through a guest link
