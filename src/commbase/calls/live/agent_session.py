"""The agent's end of a live call, whatever carries it: the agent's WebSocket to
``/v1/calls/{id}/live``, or commbase's own connection out to the agent's URL.

Frames from the agent are validated (``protocol``), bounded in size and rate, and
passed to the carrier's mailbox; frames from the carrier's mailbox are passed to the
agent as they are. The agent's finished turns (``say`` up to ``last``, or up to an
interrupt) go to the transcript. A simulated call's callee is played here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import orjson
import structlog

from commbase.calls.enums import CallStatus, ProviderName
from commbase.calls.live import protocol, service
from commbase.calls.live.bus import RELAY_SECONDS, Mailbox, Side
from commbase.calls.live.callee import SimulatedCallee, script_for
from commbase.calls.live.carrier import first_done
from commbase.calls.live.context import LiveContext
from commbase.calls.live.protocol import BadFrame, CloseCode
from commbase.calls.live.seats import REPLACED_FRAME
from commbase.calls.live.service import LiveCall
from commbase.calls.live.transcript import LiveTranscript
from commbase.core.errors import Conflict, NotFound

log = structlog.get_logger("commbase.calls.live")
CALLEE_GRACE_S = 0.5
LIMIT_RETRY_S = 15.0  # between asking a carrier to end a call over its maximum duration
TO_AGENT = RELAY_SECONDS.labels("carrier_to_agent")


class AgentTransport(Protocol):
    async def receive(self) -> str | bytes | None:
        """The next frame, or None once the agent has gone."""
        ...

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


class FrameRate:
    """At most ``limit`` frames a second, over 2 s windows; twice that is abuse."""

    def __init__(self, limit: int = protocol.MAX_FRAMES_PER_SECOND) -> None:
        self.limit = limit * 2
        self.window_start = time.monotonic()
        self.count = 0

    def hit(self) -> tuple[bool, bool]:
        """(allowed, abusive) for one more frame."""
        now = time.monotonic()
        if now - self.window_start >= 2.0:
            self.window_start, self.count = now, 0
        self.count += 1
        return self.count <= self.limit, self.count > 2 * self.limit


class AgentSession:
    def __init__(
        self,
        ctx: LiveContext,
        *,
        call: LiveCall,
        transport: AgentTransport,
        inbox: Mailbox,
        seat: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.seat = seat  # this connection's token for the call's agent seat (``seats``)
        self.call = call
        self.transport = transport
        self.inbox = inbox
        self.transcript = LiveTranscript.shared(
            ctx.services,
            ctx.database,
            call=call,
            retention_default=ctx.settings.transcript_retention_days,
        )
        self.rate = FrameRate(
            protocol.MAX_AUDIO_FRAMES_PER_SECOND
            if call.live_audio
            else protocol.MAX_FRAMES_PER_SECOND
        )
        self._send_lock = asyncio.Lock()
        self._turn: list[str] = []
        self._turn_start: float | None = None
        self._callee: asyncio.Task[str] | None = None
        self.close_code = CloseCode.NORMAL
        self._received_at: float | None = None
        self._limit_asked_at: float | None = None
        self._ended_sent = False

    async def send(self, data: bytes) -> None:
        async with self._send_lock:
            await self.transport.send(data)

    async def _send_ended(self, *, status: str, end_reason: str | None) -> None:
        """Tell the agent the call has ended, once: the agent's own hangup and the
        status poll that reads it can both get there."""
        if self._ended_sent:
            return
        self._ended_sent = True
        await self.send(protocol.frame("ended", status=status, end_reason=end_reason))

    async def run(self) -> str:
        """Relay until the call ends or the agent goes; returns why it stopped."""
        await self.send(
            protocol.frame(
                "ready",
                call_id=self.call.id,
                status=self.call.status,
                direction=self.call.direction,
                provider=self.call.provider,
                mode="audio" if self.call.live_audio else "text",
            )
        )
        self._maybe_start_callee()
        try:
            reason = await first_done(self._from_agent(), self._to_agent(), self._watch())
        finally:
            if self._callee is not None:
                # The callee hears a hangup or transfer and stops; otherwise it is stopped.
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._callee, CALLEE_GRACE_S)
            self._end_turn()
            ended = await service.current(self.ctx.database, call=self.call)
            await self.transcript.close(completed=ended is None or ended.final)
        return reason

    async def close(self, reason: str) -> None:
        """Close the agent's connection (unless the agent closed it) with the code the
        stop reason calls for."""
        if reason != "agent_closed":
            said = "replaced by a newer connection of this agent" if reason == "replaced" else ""
            with contextlib.suppress(Exception):
                await self.transport.close(self.close_code, said)

    # ----------------------------------------------------------- agent -> carrier

    async def _to_carrier(self, data: bytes) -> None:
        await self.ctx.bus.publish(self.call.id, Side.CARRIER, data, received_at=self._received_at)

    async def _from_agent(self) -> str:
        while True:
            raw = await self.transport.receive()
            if raw is None:
                return "agent_closed"
            self._received_at = time.time()
            allowed, abusive = self.rate.hit()
            if abusive:
                self.close_code = CloseCode.POLICY
                return "rate_limited"
            if not allowed:
                await self.send(protocol.error("rate_limited", "Too many frames; slow down"))
                continue
            try:
                message = protocol.parse_agent_frame(raw)
            except BadFrame as exc:
                if exc.code == "frame_too_large":
                    self.close_code = CloseCode.TOO_BIG
                    return "frame_too_large"
                await self.send(protocol.error(exc.code, exc.detail, exc.errors))
                continue
            stop = await self._act(message)
            if stop is not None:
                return stop

    async def _act(self, message: protocol.AgentMessage) -> str | None:
        """Carry out one valid message; a reason to stop after it, or None."""
        wrong = protocol.AUDIO_ONLY if not self.call.live_audio else protocol.TEXT_ONLY
        if isinstance(message, wrong):
            mode = "audio" if self.call.live_audio else "text"
            await self.send(
                protocol.error("wrong_mode", f"{message.type!r} is not carried by a {mode} call")
            )
            return None
        if isinstance(message, protocol.Audio):
            await self._to_carrier(protocol.frame("audio", payload=message.payload))
        elif isinstance(message, protocol.Mark):
            await self._to_carrier(protocol.frame("mark", name=message.name))
        elif isinstance(message, protocol.Clear):
            await self._to_carrier(protocol.frame("clear"))
        elif isinstance(message, protocol.Say):
            if sum(map(len, self._turn)) + len(message.text) > protocol.MAX_SAY_CHARS:
                await self.send(
                    protocol.error(
                        "say_too_long", f"A turn holds at most {protocol.MAX_SAY_CHARS} characters"
                    )
                )
                return None
            if self._turn_start is None:
                self._turn_start = self.call.offset_s()
            self._turn.append(message.text)
            await self._to_carrier(
                protocol.frame(
                    "say", text=message.text, last=message.last, interruptible=message.interruptible
                )
            )
            if message.last:
                self._end_turn()
        elif isinstance(message, protocol.Play):
            await self._to_carrier(protocol.frame("play", url=message.url, loop=message.loop))
        elif isinstance(message, protocol.Dtmf):
            await self._to_carrier(protocol.frame("dtmf", digits=message.digits))
        elif isinstance(message, protocol.SetLanguage):
            self.transcript.language = message.language
            await self._to_carrier(protocol.frame("language", language=message.language))
        elif isinstance(message, protocol.Hangup):
            await self._to_carrier(protocol.frame("hangup"))
            await service.hang_up(self.ctx.database, carriers=self.ctx.carriers, call=self.call)
            await self._send_ended(status=CallStatus.COMPLETED, end_reason="agent_hangup")
            return "agent_hangup"
        elif isinstance(message, protocol.Transfer):
            return await self._transfer(message)
        return None

    async def _transfer(self, message: protocol.Transfer) -> str | None:
        try:
            to = await service.transfer(
                self.ctx.database,
                carriers=self.ctx.carriers,
                call=self.call,
                to=message.to,
                member_id=message.member_id,
                reason=message.reason,
            )
        except (NotFound, Conflict) as exc:
            await self.send(protocol.error("transfer_refused", str(exc)))
            return None
        await self._to_carrier(protocol.frame("transfer", to=to))
        shown = None if self.call.privacy_mode else to
        await self.send(protocol.frame("transferred", to=shown, member_id=message.member_id))
        return "transferred"

    def _end_turn(self, heard: str | None = None) -> None:
        """The agent's turn is over (finished, or cut at ``heard`` by an interrupt)."""
        if self._turn_start is None:
            return
        said = heard if heard else "".join(self._turn)
        self.transcript.add(
            speaker="agent", text=said, start=self._turn_start, end=self.call.offset_s()
        )
        self._turn, self._turn_start = [], None

    # ----------------------------------------------------------- carrier -> agent

    async def _to_agent(self) -> str:
        while True:
            data = await self.inbox.get()
            kind = _kind_of(data)
            if kind == REPLACED_FRAME:
                if orjson.loads(data).get("seat") == self.seat:
                    self.close_code = CloseCode.REPLACED
                    return "replaced"
                continue  # another connection's: never shown to an agent
            if kind == "interrupt":
                heard = orjson.loads(data).get("heard")
                self._end_turn(heard if isinstance(heard, str) else None)
            await self.send(data)
            TO_AGENT.observe(time.time() - self.inbox.received_at)
            if kind == "ended":
                return "ended"

    async def _watch(self) -> str:
        """Tell the agent of status changes; end the call at its maximum duration; stop
        when the call has ended."""
        status = self.call.status
        while True:
            try:
                now = await self.ctx.board.next(self.call)  # one read for all live calls
            except Exception as exc:  # the database did not answer: the next round may
                log.warning("live call status not read", call_id=self.call.id, error=str(exc))
                continue
            if self.seat is not None:
                await self.ctx.bus.seats.keep(self.call.id, self.seat)
            if now is None or now.final:
                await self._send_ended(
                    status=now.status if now else CallStatus.COMPLETED,
                    end_reason=now.end_reason if now else None,
                )
                return "ended"
            self.call = now
            if now.over_limit():
                await self._end_at_limit(now)
                continue
            if now.status != status:
                status = now.status
                await self.send(protocol.frame("status", status=status))
                self._maybe_start_callee()

    async def _end_at_limit(self, call: LiveCall) -> None:
        """End the call at its maximum duration through its carrier; the poll after it
        reads the ended call and tells the agent. A carrier's status callback can take
        a moment: asked again only after ``LIMIT_RETRY_S``."""
        moment = time.monotonic()
        if self._limit_asked_at is not None and moment - self._limit_asked_at < LIMIT_RETRY_S:
            return
        self._limit_asked_at = moment
        if call.provider != ProviderName.SIMULATOR:
            # The carrier's bridge hears why (ConversationRelay: ``end``) as the REST
            # API ends the call.
            await self._to_carrier(protocol.frame("hangup", reason="max_duration"))
        try:
            await service.end_at_limit(self.ctx.database, carriers=self.ctx.carriers, call=call)
        except Conflict as exc:  # the carrier refused: tried again later
            log.warning("live call not ended at its limit", call_id=call.id, error=str(exc))

    def _maybe_start_callee(self) -> None:
        """A simulated call's callee starts talking once the call is answered."""
        if (
            self._callee is not None
            or self.call.provider != ProviderName.SIMULATOR
            or self.call.status != CallStatus.IN_PROGRESS
        ):
            return
        self._callee = asyncio.create_task(self._play_callee())

    async def _play_callee(self) -> str:
        async with self.ctx.bus.mailbox(self.call.id, Side.CARRIER) as carrier_inbox:
            to_number = await service.callee_number(self.ctx.database, call=self.call)
            callee = SimulatedCallee(
                bus=self.ctx.bus,
                call=self.call,
                script=script_for(to_number or ""),
                transcript=self.transcript,
                hang_up=lambda: service.end_by_callee(self.ctx.database, call=self.call),
                pace_s=self.ctx.callee_pace_s,
            )
            await service.record_connection(
                self.ctx.database, self.call, side="carrier", connected=True, carrier="simulator"
            )
            try:
                return await callee.run(carrier_inbox.get)
            finally:
                await service.record_connection(
                    self.ctx.database,
                    self.call,
                    side="carrier",
                    connected=False,
                    carrier="simulator",
                )


def _kind_of(data: bytes) -> str | None:
    # Frames on the bus were built by commbase: the type is always the first key.
    if data.startswith(b'{"type":"'):
        end = data.find(b'"', 9)
        return data[9:end].decode() if end > 0 else None
    return None
