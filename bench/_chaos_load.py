"""The chaos run's clients: calls, tracked events and reads spread over the API
processes, each attempt noted with what came back (see ``bench/chaos.py``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench._common import HOST

CLIENT_TIMEOUT_S = 30.0
CALL_GIVE_UP_S = 120.0
TRACK_GIVE_UP_S = 90.0
IN_USE = "/problems/idempotency-key-in-use"


def now() -> float:
    return time.time()


# ------------------------------------------------------------------ what clients saw


@dataclass
class Attempt:
    kind: str  # call | track | read | ready
    process: int  # which API process (0 or 1)
    start: float
    end: float
    status: int | None  # None: no answer (connection refused or cut, timeout)
    problem: str | None = None  # the problem type, or the transport error's name
    retry_after: str | None = None
    key: str | None = None  # the call's Idempotency-Key
    replayed: bool = False


@dataclass
class Fault:
    name: str
    start: float
    end: float
    note: str = ""


@dataclass
class Observed:
    attempts: list[Attempt] = field(default_factory=list)
    calls: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> call id (201)
    call_ids_by_key: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    calls_refused: Counter[str] = field(default_factory=Counter)
    calls_given_up: int = 0
    calls_started: int = 0
    events_accepted: set[str] = field(default_factory=set)
    events_sent: int = 0
    batches_given_up: int = 0
    faults: list[Fault] = field(default_factory=list)
    # (wall time, the machine's 1-minute load average): busy neighbours slow everything
    loadavg: list[tuple[float, float]] = field(default_factory=list)


class Clients:
    """The load: calls, tracked events and reads, spread over the API processes."""

    def __init__(
        self, args: argparse.Namespace, ports: list[int], keys: dict[str, str], wallet_id: str
    ) -> None:
        self.args = args
        self.bases = [f"http://{HOST}:{port}" for port in ports]
        self.keys = keys
        self.wallet_id = wallet_id
        self.seen = Observed()
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(CLIENT_TIMEOUT_S, connect=3.0),
            limits=httpx.Limits(max_connections=400, max_keepalive_connections=100),
        )
        self._turn = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.run_id = uuid.uuid4().hex[:8]

    def _next_process(self) -> int:
        self._turn += 1
        return self._turn % len(self.bases)

    async def _send(
        self, kind: str, method: str, path: str, *, token: str, process: int | None = None,
        key: str | None = None, **kwargs: Any,
    ) -> tuple[Attempt, httpx.Response | None]:  # fmt: skip
        process = self._next_process() if process is None else process
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        start = now()
        try:
            response = await self.http.request(
                method, self.bases[process] + path, headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            attempt = Attempt(kind, process, start, now(), None, type(exc).__name__, key=key)
            self.seen.attempts.append(attempt)
            return attempt, None
        problem = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            with contextlib.suppress(ValueError, AttributeError):
                problem = response.json().get("type")
        attempt = Attempt(
            kind,
            process,
            start,
            now(),
            response.status_code,
            problem,
            response.headers.get("retry-after"),
            key,
            response.headers.get("idempotent-replayed") == "true",
        )
        self.seen.attempts.append(attempt)
        return attempt, response

    @staticmethod
    def _retryable(attempt: Attempt) -> bool:
        status = attempt.status
        return status is None or status >= 500 or status == 429 or attempt.problem == IN_USE

    @staticmethod
    def _pause(attempt: Attempt, tries: int) -> float:
        if attempt.retry_after and attempt.retry_after.isdigit():
            return min(5.0, max(0.2, float(attempt.retry_after)))
        return min(4.0, 0.25 * 2.0**tries)

    # -------------------------------------------------------------- calls

    async def place_call(self, n: int) -> None:
        key = f"chaos-{self.run_id}-call-{n}"
        # Answered after 4 s of ringing, then 60-159 s of talk (the simulator's script).
        body = {"to": f"+1415555{1000 + n % 9000:04d}", "metadata": {"ticket_id": key}}
        self.seen.calls_started += 1
        give_up = now() + CALL_GIVE_UP_S
        tries = 0
        while True:
            attempt, response = await self._send(
                "call", "POST", "/v1/calls", token=self.keys["calls"], key=key, json=body
            )
            if response is not None and response.status_code == 201:
                call_id = response.json()["id"]
                self.seen.calls.setdefault(key, call_id)
                self.seen.call_ids_by_key[key].add(call_id)
                return
            if not self._retryable(attempt):
                self.seen.calls_refused[f"{attempt.status} {attempt.problem}"] += 1
                return
            if now() > give_up:
                self.seen.calls_given_up += 1
                return
            await asyncio.sleep(self._pause(attempt, tries))
            tries += 1

    # -------------------------------------------------------------- tracked events

    async def track_batch(self, n: int) -> None:
        ids = [f"chaos-{self.run_id}-{n}-{i}" for i in range(self.args.batch)]
        body = [
            {"id": event_id, "type": "chaos.tick", "data": {"i": i}}
            for i, event_id in enumerate(ids)
        ]
        self.seen.events_sent += len(ids)
        give_up = now() + TRACK_GIVE_UP_S
        tries = 0
        while True:
            attempt, response = await self._send(
                "track", "POST", "/v1/track/events", token=self.keys["track"], json=body
            )
            if response is not None and response.status_code == 200:
                rejected = {r.get("id") for r in response.json().get("rejected", [])}
                self.seen.events_accepted.update(i for i in ids if i not in rejected)
                return
            if not self._retryable(attempt) or now() > give_up:
                self.seen.batches_given_up += 1
                return
            await asyncio.sleep(self._pause(attempt, tries))
            tries += 1

    # -------------------------------------------------------------- reads and probes

    async def read(self, n: int) -> None:
        path = ("/v1/me", "/v1/calls?limit=5", f"/v1/wallets/{self.wallet_id}")[n % 3]
        await self._send("read", "GET", path, token=self.keys["read"])

    async def probe_ready(self, process: int) -> None:
        start = now()
        try:
            response = await self.http.get(self.bases[process] + "/readyz", timeout=5.0)
        except httpx.HTTPError as exc:
            self.seen.attempts.append(
                Attempt("ready", process, start, now(), None, type(exc).__name__)
            )
            return
        self.seen.attempts.append(
            Attempt(
                "ready", process, start, now(), response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
        )  # fmt: skip

    async def sample_load(self, _n: int) -> None:
        self.seen.loadavg.append((now(), os.getloadavg()[0]))

    # -------------------------------------------------------------- pacing

    async def every(
        self, rate: float, action: Callable[[int], Coroutine[Any, Any, None]], stop: asyncio.Event
    ) -> None:
        """Start ``action(n)`` ``rate`` times a second until ``stop``, without waiting for it."""
        if rate <= 0:
            return
        loop = asyncio.get_running_loop()
        began, n = loop.time(), 0
        while not stop.is_set():
            task = asyncio.create_task(action(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, began + n / rate - loop.time()))

    async def finish(self, timeout_s: float) -> None:
        """Let retries in progress run to their end (or give up after ``timeout_s``)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
        await self.http.aclose()
