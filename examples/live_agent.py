"""A complete live-call agent for commbase, using the ``websockets`` library.

    COMMBASE_API_KEY=cb_test_... python examples/live_agent.py [+14155551234 | call_...]

With a phone number it places a call with ``live_agent: true`` and talks on it;
with a call id it attaches to that call (an inbound call to one of your numbers,
for instance). Against ``make run`` (the simulator, no carrier) the scripted callee
answers: ``...0005`` interrupts, ``...0006`` presses keys, ``...0007`` hangs up.

The "brain" is a few rules, to keep the example about the protocol: swap
``reply_to`` for your language model and stream its tokens to ``speak``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

BASE_URL = os.environ.get("COMMBASE_URL", "http://127.0.0.1:8000")
API_KEY = os.environ.get("COMMBASE_API_KEY", "")
MAX_TURNS = 3


def place_call(number: str) -> str:
    """POST /v1/calls with live_agent: the call's id."""
    request = urllib.request.Request(  # noqa: S310  (our own server's URL)
        f"{BASE_URL}/v1/calls",
        data=json.dumps({"to": number, "live_agent": True}).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        call: dict[str, Any] = json.load(response)
    print(f"placed {call['id']} to {number}: {call['status']}")
    return str(call["id"])


def reply_to(text: str, turn: int) -> str:
    """What to say back (your model goes here)."""
    if "repeat" in text.lower():
        return "Of course. I am calling from Bright Dental about your cleaning."
    lines = [
        "Hi, this is Ada from Bright Dental. Do you have a minute?",
        "Great. When would you like to come in for your cleaning?",
        "Perfect, you are booked. We will text you a confirmation.",
    ]
    return lines[min(turn, len(lines) - 1)]


class Agent:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.turns = 0
        self.speaking: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def speak(self, text: str) -> None:
        """Stream ``text`` word by word, as a model streams tokens; last ends the turn."""
        words = text.split(" ")
        for index, word in enumerate(words):
            last = index == len(words) - 1
            await self.send({"type": "say", "text": word if last else word + " ", "last": last})
            await asyncio.sleep(0.05)
        print(f"  agent: {text}")

    def interrupt(self) -> None:
        if self.speaking is not None and not self.speaking.done():
            self.speaking.cancel()  # stop streaming: the next say starts a new turn

    async def on_utterance(self, frame: dict[str, Any]) -> None:
        if not frame["final"]:
            return  # partial speech: wait for the final text
        print(f"  {frame['speaker']}: {frame['text']}  ({frame.get('confidence')})")
        if self.turns >= MAX_TURNS:
            await self.send({"type": "hangup"})
            return
        self.interrupt()
        self.speaking = asyncio.create_task(self.speak(reply_to(frame["text"], self.turns)))
        self.turns += 1

    async def run(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "ready":
                print(f"attached to {frame['call_id']} ({frame['status']})")
            elif kind == "status":
                print(f"  [status] {frame}")
            elif kind == "utterance":
                await self.on_utterance(frame)
            elif kind == "interrupt":
                print(f"  [interrupted after: {frame.get('heard')!r}]")
                self.interrupt()
            elif kind == "dtmf":
                print(f"  [key pressed: {frame['digit']}]")
                if frame["digit"] == "#":
                    await self.speak("Thanks, I have your account number.")
            elif kind == "error":
                print(f"  [error] {frame['code']}: {frame['detail']}")
            elif kind in ("ended", "transferred"):
                print(f"call over: {frame}")
                break


async def main(target: str) -> None:
    call_id = target if target.startswith("call_") else place_call(target)
    ws_url = BASE_URL.replace("http", "ws", 1) + f"/v1/calls/{call_id}/live"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with connect(ws_url, additional_headers=headers) as ws:
        await Agent(ws).run()


if __name__ == "__main__":
    if not API_KEY:
        sys.exit("set COMMBASE_API_KEY (make run prints a demo key)")
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "+14155551234"))
