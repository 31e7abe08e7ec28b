"""What the carrier's bridges share: ConversationRelay (``relay``) and Media Streams
(``media_stream``) each hold one carrier socket and the call's carrier mailbox.

``CarrierBridge.run`` races two loops -- carrier frames in, translated and published to
the agent's mailbox; the agent's frames from the mailbox, translated and sent to the
carrier -- until the first one stops (the carrier closed, stopped or was sent ``end``),
then cancels the other and tells the agent the carrier has gone. A bridge says how to
read one carrier message (``_heard``) and how to translate an agent frame
(``_translate``). ``first_done`` is the race itself, which the agent's end
(``agent_session``) runs too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any, ClassVar, Protocol

import orjson
import structlog

from commbase.calls.live import protocol
from commbase.calls.live.bus import RELAY_SECONDS, Mailbox, Side
from commbase.calls.live.context import LiveContext
from commbase.calls.live.service import LiveCall

log = structlog.get_logger("commbase.calls.live")
MAX_CARRIER_FRAME_BYTES = 65_536  # one carrier frame (a 20 ms audio frame is ~300 bytes)
TO_CARRIER = RELAY_SECONDS.labels("agent_to_carrier")


class CarrierTransport(Protocol):
    async def receive(self) -> str | bytes | None: ...

    async def send(self, data: bytes) -> None: ...


async def first_done(*loops: Coroutine[Any, Any, str]) -> str:
    """Run ``loops`` as tasks until the first one returns (or raises): its result (or
    its exception). The others are cancelled and awaited before this returns, also
    when this is cancelled itself."""
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


class CarrierBridge:
    """One carrier socket, bridged to the call's agent through the bus."""

    kind: ClassVar[str] = "carrier"  # names the socket in logs

    def __init__(
        self, ctx: LiveContext, *, call: LiveCall, transport: CarrierTransport, inbox: Mailbox
    ) -> None:
        self.ctx = ctx
        self.call = call
        self.transport = transport
        self.inbox = inbox
        self._received_at: float | None = None  # when the frame being read arrived

    async def run(self) -> str:
        """Relay until either loop stops; why it stopped."""
        try:
            return await first_done(self._from_carrier(), self._to_carrier())
        finally:
            await self._closing()
            with contextlib.suppress(Exception):
                await self._to_agent(protocol.frame("status", carrier="disconnected"))

    async def _to_agent(self, data: bytes) -> None:
        await self.ctx.bus.publish(self.call.id, Side.AGENT, data, received_at=self._received_at)

    async def _from_carrier(self) -> str:
        while True:
            raw = await self.transport.receive()
            if raw is None:
                return "carrier_closed"
            self._received_at = time.time()
            if len(raw) > MAX_CARRIER_FRAME_BYTES:
                log.warning(f"{self.kind} frame too large", call_id=self.call.id, size=len(raw))
                continue
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.warning(f"{self.kind} frame is not JSON", call_id=self.call.id)
                continue
            if isinstance(message, dict) and (stop := await self._heard(message)) is not None:
                return stop

    async def _to_carrier(self) -> str:
        await self._ready()
        while True:
            data = await self.inbox.get()
            translated = self._translate(data)
            if translated is None:
                continue
            await self.transport.send(translated)
            TO_CARRIER.observe(time.time() - self.inbox.received_at)
            if self._ends(translated):
                return "ended"

    # ------------------------------------------------------------ for each carrier

    async def _heard(self, message: dict[str, Any]) -> str | None:
        """Pass one carrier message on; a reason to stop after it, or None."""
        raise NotImplementedError

    def _translate(self, data: bytes) -> bytes | None:
        """An agent frame from the mailbox as the carrier wants it (None: not sent)."""
        raise NotImplementedError

    def _ends(self, translated: bytes) -> bool:
        """True when the frame just sent ends the carrier's session."""
        return False

    async def _ready(self) -> None:
        """Wait until frames can be sent to the carrier."""

    async def _closing(self) -> None:
        """The bridge has stopped: release what it holds."""
