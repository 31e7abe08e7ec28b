"""The simulator's callee: a scripted person on the other end of a live call.

It speaks the same frames a carrier's bridge does, offline, so an agent can be
built and tested with no carrier at all (``make run`` and ``examples/live_agent.py``).
A turn of the agent is a ``say`` ending with ``last: true``. The script is chosen by
the last four digits of the callee's number, like the simulator's call outcomes:

    ...0005  interrupter  greets; cuts into the agent's second turn after its first
                          token ("Sorry, can you repeat that?"); then as the default
    ...0006  keypad       greets; answers the first turn with the digits 4, 2, #
                          instead of words; then as the default
    ...0007  hangs up     greets; hangs up after the agent's first turn
    other    default      greets ("Hello? Who is this?"), answers three turns, then
                          says goodbye and hangs up after the fourth

Each line is heard by the agent as a final ``utterance`` (speaker ``callee``,
confidence 0.92, the call's language) and written to the transcript. The callee
hangs up by completing the call (end reason ``callee_hangup``, charged once for the
time talked); an agent's ``hangup`` or ``transfer`` ends its part. The simulator's
call outcome still bounds the call (a default number talks 60 + its last two
digits seconds at most).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from commbase.calls.live import protocol
from commbase.calls.live.bus import LiveBus, Side
from commbase.calls.live.service import LiveCall
from commbase.calls.live.transcript import LiveTranscript

GREETING = "Hello? Who is this?"
ANSWERS = (
    "Oh hi. Yes, I have a minute.",
    "Tuesday afternoon works best for me.",
    "Yes, please send the confirmation by text.",
)
GOODBYE = "Great, thanks. Goodbye!"
INTERRUPTION = "Sorry, can you repeat that?"
KEYPAD_DIGITS = ("4", "2", "#")
CONFIDENCE = 0.92


@dataclass
class Script:
    name: str
    interrupt_turn: int | None = None  # the agent turn (1-based) cut into
    keypad_turn: int | None = None  # the agent turn answered with digits
    hang_up_after: int = len(ANSWERS) + 1  # turns heard before saying goodbye
    answers: tuple[str, ...] = field(default=ANSWERS)


def script_for(number: str) -> Script:
    tail = number[-4:]
    if tail == "0005":
        return Script("interrupter", interrupt_turn=2)
    if tail == "0006":
        return Script("keypad", keypad_turn=1)
    if tail == "0007":
        return Script("hangs_up", hang_up_after=1, answers=())
    return Script("default")


class SimulatedCallee:
    """Plays ``script`` on ``call``: reads the carrier mailbox, writes the agent's."""

    def __init__(
        self,
        *,
        bus: LiveBus,
        call: LiveCall,
        script: Script,
        transcript: LiveTranscript,
        hang_up: Callable[[], Awaitable[None]],
        language: str = "en-US",
        pace_s: float = 0.0,
    ) -> None:
        self.bus = bus
        self.call = call
        self.script = script
        self.transcript = transcript
        self.hang_up = hang_up
        self.language = language
        self.pace_s = pace_s
        self.turns = 0
        self._heard: list[str] = []  # tokens of the agent's current turn
        self._interrupted_turn = False

    async def _to_agent(self, data: bytes) -> None:
        await self.bus.publish(self.call.id, Side.AGENT, data)

    async def speak(self, text: str) -> None:
        if self.pace_s:
            await asyncio.sleep(self.pace_s)
        at = self.call.offset_s()
        await self._to_agent(
            protocol.utterance(
                text=text, final=True, confidence=CONFIDENCE, language=self.language, at=at
            )
        )
        self.transcript.add(speaker="callee", text=text, start=at, end=at, confidence=CONFIDENCE)

    async def run(self, inbox_get: Callable[[], Awaitable[bytes]]) -> str:
        """Talk until someone hangs up; returns why it stopped."""
        await self.speak(GREETING)
        while True:
            message = orjson.loads(await inbox_get())
            kind = message.get("type")
            if kind in ("hangup", "transfer"):
                return f"agent_{kind}"
            if kind == "language" and isinstance(message.get("language"), str):
                self.language = message["language"]
            if kind != "say":
                continue
            turn_over = await self._heard_token(
                str(message.get("text", "")), bool(message.get("last"))
            )
            if turn_over and await self._reply():
                await self.hang_up()
                await self._to_agent(
                    protocol.frame("ended", status="completed", end_reason="callee_hangup")
                )
                return "callee_hangup"

    async def _heard_token(self, token: str, last: bool) -> bool:
        """Take one token of the agent's turn; True when the turn is over."""
        self._heard.append(token)
        turn = self.turns + 1
        if self.script.interrupt_turn == turn and not self._interrupted_turn:
            self._interrupted_turn = True
            await self._to_agent(
                protocol.frame("interrupt", heard="".join(self._heard), at=self.call.offset_s())
            )
            return True
        return last

    async def _reply(self) -> bool:
        """Answer the agent's finished turn; True when the callee then hangs up."""
        self.turns += 1
        self._heard = []
        if self._interrupted_turn and self.script.interrupt_turn == self.turns:
            self.turns -= 1  # the interrupted turn is said again
            self.script.interrupt_turn = None
            await self.speak(INTERRUPTION)
            return False
        if self.turns >= self.script.hang_up_after:
            if self.script.answers:
                await self.speak(GOODBYE)
            return True
        if self.script.keypad_turn == self.turns:
            for digit in KEYPAD_DIGITS:
                await self._to_agent(protocol.frame("dtmf", digit=digit))
            return False
        answers = self.script.answers
        await self.speak(answers[(self.turns - 1) % len(answers)])
        return False
