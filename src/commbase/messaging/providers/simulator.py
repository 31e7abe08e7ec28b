"""An offline provider that plays each outbound message through its statuses on the clock.

What happens depends on the last two digits of the recipient's number, so every
path can be tried by hand:

    ...13  refused when sent           failed at once (code sim_131026, undeliverable)
    ...14  lost                        sent, then failed 5 s later (code sim_131049)
    ...15  delivered, never read
    ...16  provider busy twice         the first two attempts fail and are retried
    ...99  replies STOP                read, then the contact replies "STOP" (opts out)
    ...7   (last digit 7) replies      read, then the contact replies "Thanks, got it!"
    other                              sent at once, delivered after 2 s, read after 5 s

Replies come 8 s after sending. Offsets count from ``sent_at``; the simulator loop
(``messaging.simulation``) applies what is due every second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from commbase.messaging.enums import MessageStatus, ProviderName
from commbase.messaging.providers.base import Outbound, SendFailed, SendRefused, Sent

DELIVERED_AFTER_S = 2
READ_AFTER_S = 5
LOST_AFTER_S = 5
REPLY_AFTER_S = 8
STOP_REPLY = "STOP"
THANKS_REPLY = "Thanks, got it!"
# Number endings whose contacts reply.
REPLYING = ("99", "7")
# The number ending whose messages stay delivered, never read.
UNREAD = "15"


@dataclass(frozen=True)
class Step:
    offset_s: float
    status: MessageStatus
    error_code: str | None = None
    error_message: str | None = None


def script_for(to: str) -> list[Step]:
    """The statuses an outbound message to ``to`` takes after it was sent."""
    tail = to[-2:]
    if tail == "14":
        return [Step(LOST_AFTER_S, MessageStatus.FAILED, "sim_131049", "not delivered (lost)")]
    delivered = Step(DELIVERED_AFTER_S, MessageStatus.DELIVERED)
    if tail == UNREAD:
        return [delivered]
    return [delivered, Step(READ_AFTER_S, MessageStatus.READ)]


def reply_for(to: str) -> str | None:
    """What the contact at ``to`` writes back, ``REPLY_AFTER_S`` after a message."""
    if to.endswith("99"):
        return STOP_REPLY
    if to.endswith("7"):
        return THANKS_REPLY
    return None


def due_steps(to: str, *, sent_at: datetime, now: datetime) -> list[Step]:
    return [step for step in script_for(to) if sent_at + timedelta(seconds=step.offset_s) <= now]


class SimulatorProvider:
    name: str = ProviderName.SIMULATOR

    async def send(self, *, outbound: Outbound, attempt: int = 1) -> Sent:
        if outbound.to.endswith("13"):
            raise SendRefused("sim_131026", "message undeliverable (simulated)")
        if outbound.to.endswith("16") and attempt <= 2:
            raise SendFailed("provider busy (simulated)")
        # The id derives from ours: sending again after a crash names the same message.
        return Sent(provider_message_id=f"sim.{outbound.message_id}")
