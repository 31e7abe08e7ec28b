"""Live calls: latency commbase adds between a carrier and an agent, both ways.

    .venv/bin/python bench/live.py [--calls 100] [--rounds 10] [--flat-out]
                                   [--database-url URL] [--redis-url URL]

A ``commbase`` API process (uvicorn, one worker, no background jobs) serves a fresh
SQLite database in a temporary directory (or ``--database-url``, a local
PostgreSQL; with ``--redis-url`` frames cross through Redis pub/sub, as between
several API processes). ``--calls`` answered live calls are seeded (Twilio provider,
status in-progress, ``live_agent``). For each call (``OPENING`` calls at a time:
calls arrive spread out, and a burst of 200 handshakes measures something else)
this process opens two WebSockets: the agent's (``/v1/calls/{id}/live``, API key)
and the carrier's (``/v1/providers/twilio/relay/{id}``, signed with Twilio's
``RequestValidator``), which speaks ConversationRelay as Twilio would. Then every
call, concurrently, runs ``--rounds`` turns: the carrier sends a final ``prompt``
(timed until the agent receives the ``utterance``: carrier -> agent) and the agent
answers with a five-token ``say`` (each token timed until the carrier receives the
``text`` frame: agent -> carrier). Each turn's transcript lines are written by
commbase as they pass, as in production.

Paced like conversations (the default): each call's caller speaks every 2-4 s
(uniformly jittered, calls started at random offsets so they do not speak in step)
and the agent's tokens are streamed 20-50 ms apart, as a language model streams
them -- about 100 calls x (1 prompt + 5 tokens) / 3 s = 200 frames a second. This is
what the "latency added" figures are for: a live call's frames are sparse, and the
question is how long each one waits inside commbase. ``--flat-out`` drives every
call's turns back to back with no pauses (the old saturation mode): the server's
single worker is then the bottleneck and the latencies measure its queue, so that
mode reports throughput (``frames_per_s``) as its main figure.

Latency added by commbase (``added_*``) is the server's own histogram
``commbase_live_relay_seconds`` (read from ``/metrics``): from a frame's arrival on
one socket to its translation leaving on the other; the figure is the upper bound of
the bucket holding the percentile. ``observed_*`` are one way from the sending
client's ``send`` to the receiving client's ``recv``, both clients in this process:
they include the clients' own WebSocket work and this machine's scheduling.
``cpu_ms_per_call`` is the server process's CPU time (user + system, from /proc)
during the talking phase, divided by the number of calls; ``cpu_ms_per_frame``
divides it by the frames relayed. ``load_average_1m`` is read at the end: on a
shared machine, compare figures taken at similar loads.

Every wait for a frame is bounded (``WAIT_S``): a lost frame fails the run instead
of hanging it. Prints one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson
from tests.identity.factories import principal_for
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bench._common import (
    HOST,
    free_port,
    ms,
    percentile,
    prepare_database,
    server_env,
    stop_process,
    wait_until_up,
)
from commbase.calls.live.twiml import relay_url
from commbase.calls.models import Call
from commbase.core.db import Database
from commbase.core.http import ClientInfo
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.identity.api_keys import service as api_keys
from commbase.identity.api_keys.schemas import ApiKeyCreate
from commbase.identity.roles import Role
from commbase.identity.schemas import UserCreate

SECRET = "bench-live-secret-key-that-is-long-enough-0123456789abcdef"  # noqa: S105
AUTH_TOKEN = "bench-twilio-auth-token-0123456789"  # noqa: S105
ACCOUNT_SID = "AC" + "0" * 32
TOKENS = ("Sure, ", "I can ", "help ", "with ", "that.")
OPENING = 10  # calls whose sockets are being opened at once (calls arrive spread out)
PROMPT_EVERY_S = (2.0, 4.0)  # paced: a caller's prompts this far apart (uniform)
TOKEN_EVERY_S = (0.020, 0.050)  # paced: the agent's say tokens this far apart (uniform)
REFUSED_503 = [0]  # handshakes answered 503 and retried
WAIT_S = 30.0  # longest wait for one frame: a lost frame fails the run, never hangs it


async def seed(database_url: str, calls: int) -> tuple[str, list[str]]:
    """An organization, its owner's API key and ``calls`` answered live calls."""
    database = Database(database_url)
    try:
        async with database.sessionmaker() as session:
            org = await identity_service.create_organization(session, name="Live bench")
            owner, _ = await identity_service.create_user(
                session,
                data=UserCreate(
                    email="owner@live-bench.example",
                    password="correct horse battery staple",  # noqa: S106
                    role=Role.OWNER,
                ),
                org_id=org.id,
            )
            _, key = await api_keys.create_key(
                session,
                data=ApiKeyCreate(name="bench"),
                actor=principal_for(org_id=org.id, user_id=owner.id, role=Role.OWNER),
                client=ClientInfo(None, None, None, None),
                secret=SECRET,
                tiers={"standard": {"limit": 1_000_000_000, "window_s": 60}},
            )
            now = utcnow()
            run = uuid.uuid4().hex[:24]  # provider ids are unique across runs in one database
            rows = [
                Call(
                    org_id=org.id,
                    provider="twilio",
                    provider_call_id=f"CA{run}{index:08d}",
                    status="in-progress",
                    to_number=f"+1415555{index:04d}",
                    from_number="+14155550100",
                    initiated_at=now - timedelta(seconds=6),
                    answered_at=now,
                    live_agent=True,
                )
                for index in range(calls)
            ]
            session.add_all(rows)
            await session.commit()
            return key, [row.id for row in rows]
    finally:
        await database.dispose()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class LiveCall:
    def __init__(self, call_id: str, agent: ClientConnection, carrier: ClientConnection) -> None:
        self.call_id = call_id
        self.agent = agent
        self.carrier = carrier
        self.to_agent: list[float] = []
        self.to_carrier: list[float] = []
        self.paced = True

    async def turn(self, index: int) -> None:
        prompt = {"type": "prompt", "voicePrompt": f"question {index}", "last": True}
        sent = time.perf_counter()
        await self.carrier.send(orjson.dumps(prompt).decode())
        while True:
            frame = await recv(self.agent)
            if frame["type"] == "utterance":
                self.to_agent.append(time.perf_counter() - sent)
                break
        for position, token in enumerate(TOKENS):
            last = position == len(TOKENS) - 1
            if self.paced and position:
                await asyncio.sleep(random.uniform(*TOKEN_EVERY_S))  # an LLM streaming
            sent = time.perf_counter()
            say = {"type": "say", "text": token, "last": last}
            await self.agent.send(orjson.dumps(say).decode())
            while True:
                frame = await recv(self.carrier)
                if frame["type"] == "text":
                    self.to_carrier.append(time.perf_counter() - sent)
                    break

    async def talk(self, rounds: int, *, paced: bool) -> None:
        self.paced = paced
        if not paced:
            for index in range(rounds):
                await self.turn(index)
            return
        # Calls are not in step: each starts somewhere in its first gap.
        next_at = time.perf_counter() + random.uniform(0.0, PROMPT_EVERY_S[1])
        for index in range(rounds):
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += random.uniform(*PROMPT_EVERY_S)  # the caller's next prompt
            await self.turn(index)


async def recv(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        frame: dict[str, Any] = orjson.loads(await socket.recv())
    return frame


async def open_call(
    base: str, public: str, key: str, call_id: str, opening: asyncio.Semaphore
) -> LiveCall:
    async with opening:
        return await _open_call(base, public, key, call_id)


async def connect_retrying(url: str, headers: dict[str, str]) -> ClientConnection:
    """Connect, retrying a handshake answered 503 (the database or Redis was busy) after
    its ``Retry-After``, as a carrier or an agent would; the refusals are counted."""
    for _ in range(5):
        try:
            return await connect(url, additional_headers=headers, open_timeout=WAIT_S)
        except InvalidStatus as exc:
            if exc.response.status_code != 503:
                raise
            REFUSED_503[0] += 1
            await asyncio.sleep(float(exc.response.headers.get("Retry-After", "1")))
    return await connect(url, additional_headers=headers, open_timeout=WAIT_S)


async def _open_call(base: str, public: str, key: str, call_id: str) -> LiveCall:
    agent = await connect_retrying(
        f"ws://{base}/v1/calls/{call_id}/live", {"Authorization": f"Bearer {key}"}
    )
    ready = await recv(agent)
    assert ready["type"] == "ready", ready
    signature = RequestValidator(AUTH_TOKEN).compute_signature(relay_url(public, call_id), {})
    carrier = await connect_retrying(
        f"ws://{base}/v1/providers/twilio/relay/{call_id}", {"X-Twilio-Signature": signature}
    )
    await carrier.send(orjson.dumps({"type": "setup", "callSid": "CA" + call_id[-32:]}).decode())
    while (await recv(agent)).get("carrier") != "connected":
        pass
    return LiveCall(call_id, agent, carrier)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="cb_bench_live_"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'live.db'}"
    # Its own event loop (asyncpg), so not in this one's.
    await asyncio.to_thread(prepare_database, database_url)
    key, call_ids = await seed(database_url, args.calls)
    port = free_port()
    public = f"http://{HOST}:{port}"
    env = server_env(database_url, secret=SECRET, run_jobs=False, redis_url=args.redis_url)
    env.update(
        {
            "COMMBASE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "COMMBASE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "COMMBASE_PUBLIC_BASE_URL": public,
        }
    )
    log_path = workdir / "server.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "commbase.app:create_served_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--ws",
        "websockets-sansio",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220  (started once, before any timing)
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=public) as client:
            # A loaded machine imports the app slowly: up to 3 minutes.
            await wait_until_up(client, process, log_path=log_path, timeout_s=180.0)
        base = f"{HOST}:{port}"
        opened = time.perf_counter()
        opening = asyncio.Semaphore(OPENING)
        calls = await asyncio.gather(*(open_call(base, public, key, c, opening) for c in call_ids))
        open_s = time.perf_counter() - opened
        cpu_before = cpu_seconds(process.pid)
        started = time.perf_counter()
        await asyncio.gather(*(call.talk(args.rounds, paced=not args.flat_out) for call in calls))
        talk_s = time.perf_counter() - started
        cpu = cpu_seconds(process.pid) - cpu_before
        async with httpx.AsyncClient(base_url=public) as client:
            exposition = (await client.get("/metrics")).text
        for call in calls:
            await call.agent.close()
            await call.carrier.close()
    finally:
        stop_process(process)
    to_agent = sorted(x for call in calls for x in call.to_agent)
    to_carrier = sorted(x for call in calls for x in call.to_carrier)
    frames = len(to_agent) + len(to_carrier)
    inside = relay_histogram(exposition)
    return {
        "bench": "live",
        "database": database_url.split(":", 1)[0],
        "redis": bool(args.redis_url),
        "mode": "flat_out" if args.flat_out else "paced",
        "calls": args.calls,
        "rounds": args.rounds,
        "frames_relayed": frames,
        "frames_per_s": round(frames / talk_s, 1),
        "open_s": round(open_s, 3),
        "handshakes_refused_503": REFUSED_503[0],
        "talk_s": round(talk_s, 3),
        # Inside commbase (the server's histogram; a bucket's upper bound).
        "added_carrier_to_agent_p50_ms": inside["carrier_to_agent"][0.50],
        "added_carrier_to_agent_p99_ms": inside["carrier_to_agent"][0.99],
        "added_agent_to_carrier_p50_ms": inside["agent_to_carrier"][0.50],
        "added_agent_to_carrier_p99_ms": inside["agent_to_carrier"][0.99],
        # Client to client (both clients in this process, sharing its CPU).
        "observed_carrier_to_agent_p50_ms": ms(percentile(to_agent, 0.50)),
        "observed_carrier_to_agent_p99_ms": ms(percentile(to_agent, 0.99)),
        "observed_agent_to_carrier_p50_ms": ms(percentile(to_carrier, 0.50)),
        "observed_agent_to_carrier_p99_ms": ms(percentile(to_carrier, 0.99)),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "server_cpu_s": round(cpu, 3),
        "cpu_ms_per_call": round(cpu * 1000 / args.calls, 2),
        "cpu_ms_per_frame": round(cpu * 1000 / frames, 3),
    }


def relay_histogram(exposition: str) -> dict[str, dict[float, float | None]]:
    """p50 and p99 (ms, the upper bound of the bucket holding them) of
    ``commbase_live_relay_seconds`` per direction, from the server's /metrics."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    for line in exposition.splitlines():
        if not line.startswith("commbase_live_relay_seconds_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        direction = labels.split('direction="', 1)[1].split('"', 1)[0]
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets.setdefault(direction, []).append((float(bound), float(value)))
    figures: dict[str, dict[float, float | None]] = {}
    for direction in ("carrier_to_agent", "agent_to_carrier"):
        rows = sorted(buckets.get(direction, []))
        total = rows[-1][1] if rows else 0.0
        figures[direction] = {
            q: next((ms(bound) for bound, count in rows if total and count >= q * total), None)
            for q in (0.50, 0.99)
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--flat-out",
        action="store_true",
        help="turns back to back, no pauses: throughput of a saturated worker",
    )
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args))))


if __name__ == "__main__":
    main()
