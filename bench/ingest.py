"""Event ingest: ``POST /v1/track/events`` on a real uvicorn server, beside a raw COPY.

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 1000] [--workers 2]
                                     [--concurrency 8] [--rounds 3] [--database-url URL]

The database (default PostgreSQL ``cb_bench_ingest`` on 127.0.0.1) is dropped,
created and migrated; ``--database-url sqlite+aiosqlite:////tmp/cb_bench_ingest.db``
runs on a fresh SQLite file instead. ``commbase demo`` makes the organization and
its API key; ``commbase serve --workers N`` serves it (uvloop, httptools), with
rate limits out of the way and jobs off.

Before each timed turn, every request body is generated as bytes: ``--events`` events in
JSON arrays of ``--batch``, each with its own id, a type, references, a small
``data`` object, SDK metadata and a timestamp. ``--concurrency`` httpx
connections post them; each response must accept the whole batch.

On PostgreSQL the same number of rows (fresh ids, the same values) is then
written into the same table by asyncpg ``copy_records_to_table``, in chunks of
``--batch`` over ``--concurrency`` connections, each chunk its own transaction:
the limit of what the table takes. A round is one API turn and one COPY turn;
``--rounds`` of them alternate (each turn after a ``VACUUM ANALYZE`` and a
``CHECKPOINT``), so a slow spell of a shared machine falls on one round, not on
one side. ``ratio`` is the median round's API events/s over COPY's (``ratios``
each round's); the seconds are the medians of each side.

Prints each round on stderr and one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import (
    asyncpg_dsn,
    commbase_command,
    free_port,
    fresh_database,
    migrate_and_demo,
    server_env,
    stop_process,
    wait_until_up,
)
from commbase.tracking.copying import COLUMNS  # the columns the product copies

HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_ingest"
# COMMBASE_BENCH_DROPPABLE (comma-separated) names more databases this bench may drop.
ALLOWED_DATABASES = frozenset(
    {"cb_bench_ingest"}
    | {n for n in os.environ.get("COMMBASE_BENCH_DROPPABLE", "").split(",") if n}
)
STARTUP_TIMEOUT_S = 240.0
SECRET = "bench-ingest-secret-" + "x" * 40
TYPES = ("call.quality_degraded", "balance.low", "rate_limit.hit", "page.scrolled", "cart.added")


# ------------------------------------------------------------------ data


def _event(run: str, n: int, moment: datetime) -> dict[str, Any]:
    return {
        "id": f"{run}-{n:09d}",
        "type": TYPES[n % len(TYPES)],
        "user_id": f"usr_{n % 5000:06d}",
        "session_id": f"ses_{n % 20000:06d}",
        "call_id": f"call_{n:09d}" if n % 5 == 0 else None,
        "account_id": "acct_main",
        "data": {"value": n % 997, "ok": n % 3 == 0, "label": "bench"},
        "metadata": {"sdk_version": "2.4.1", "user_agent": "commbase-sdk/2.4.1 (bench)"},
        "timestamp": (moment - timedelta(milliseconds=n % 60_000)).isoformat(),
    }


def request_bodies(run: str, events: int, batch: int, moment: datetime) -> list[bytes]:
    """The batches as the JSON bytes each request sends."""
    return [
        orjson.dumps([_event(run, n, moment) for n in range(start, min(start + batch, events))])
        for start in range(0, events, batch)
    ]


def copy_records(run: str, events: int, org_id: str, moment: datetime) -> list[tuple[Any, ...]]:
    """The same events as rows of ``tracked_events`` for COPY."""
    rows = []
    expires = moment + timedelta(days=90)
    for n in range(events):
        event = _event(run, n, moment)
        rows.append(
            (
                org_id,
                event["id"],
                event["type"],
                event["user_id"],
                event["session_id"],
                event["call_id"],
                None,
                event["account_id"],
                orjson.dumps(event["data"]).decode(),
                orjson.dumps(event["metadata"]).decode(),
                datetime.fromisoformat(event["timestamp"]),
                moment,
                expires,
            )
        )
    return rows


# ------------------------------------------------------------------ server


def prepare_database(url: str, command: list[str], env: dict[str, str], workdir: Path) -> str:
    """A fresh, migrated database with the demo organization; returns its API key."""
    fresh_database(url, ALLOWED_DATABASES, migrate=False)  # `commbase migrate` runs below
    return migrate_and_demo(command, env, workdir)


# ------------------------------------------------------------------ load


async def post_all(
    client: httpx.AsyncClient, bodies: list[bytes], *, api_key: str, concurrency: int
) -> tuple[float, int]:
    """Post every body; returns (seconds, events accepted)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post("/v1/track/events", content=body, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"ingest answered {response.status_code}: {response.text[:500]}")
            result = response.json()
            if result["rejected"]:
                raise SystemExit(f"events were rejected: {result['rejected'][:3]}")
            accepted += int(result["accepted"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, accepted


async def copy_all(dsn: str, rows: list[tuple[Any, ...]], *, batch: int, concurrency: int) -> float:
    """COPY ``rows`` into tracked_events, ``batch`` per transaction; returns seconds."""
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    connections = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    queue: asyncio.Queue[list[tuple[Any, ...]]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker(connection: Any) -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "tracked_events", records=chunk, columns=COLUMNS
                )

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        return time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()


async def _org_id(dsn: str) -> tuple[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        org_id = await connection.fetchval("SELECT id FROM organizations ORDER BY id LIMIT 1")
        # The demo organization comes with a month of history (evt_ ids), and COPY's
        # turns write copy<N>- ids: count what the API stored.
        stored = await connection.fetchval(
            "SELECT count(*) FROM tracked_events WHERE event_id LIKE 'api%' "
            "OR event_id LIKE 'warm-%'"
        )
        return str(org_id), int(stored)
    finally:
        await connection.close()


async def _vacuum(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE tracked_events")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def bench(
    args: argparse.Namespace, *, base_url: str, api_key: str, server: Any
) -> dict[str, Any]:
    moment = datetime.now(UTC)
    warmup = request_bodies("warm", args.batch * args.concurrency, args.batch, moment)
    postgres = args.database_url.startswith("postgresql")
    dsn = asyncpg_dsn(args.database_url) if postgres else ""
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    rounds: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        await wait_until_up(client, server, timeout_s=STARTUP_TIMEOUT_S)
        await post_all(client, warmup, api_key=api_key, concurrency=args.concurrency)
        org_id = (await _org_id(dsn))[0] if postgres else ""
        for number in range(args.rounds):
            # The API's and COPY's turns alternate, so a slow spell of the machine
            # falls on one round's pair, not on every figure of one side.
            bodies = request_bodies(f"api{number}", args.events, args.batch, moment)
            if postgres:
                await _vacuum(dsn)
            seconds, accepted = await post_all(
                client, bodies, api_key=api_key, concurrency=args.concurrency
            )
            if accepted != args.events:
                raise SystemExit(f"{accepted} events accepted of {args.events}")
            del bodies
            turn: dict[str, Any] = {"api_s": round(seconds, 3)}
            if postgres:
                rows = copy_records(f"copy{number}", args.events, org_id, moment)
                await _vacuum(dsn)
                copy_s = await copy_all(dsn, rows, batch=args.batch, concurrency=args.concurrency)
                turn.update({"copy_s": round(copy_s, 3), "ratio": round(copy_s / seconds, 3)})
            rounds.append(turn)
            print(json.dumps({"round": number + 1, **turn}), file=sys.stderr, flush=True)
    api_s = statistics.median(turn["api_s"] for turn in rounds)
    figures: dict[str, Any] = {
        "api_s": api_s,
        "api_events_per_s": round(args.events / api_s),
        "api_requests_per_s": round(math.ceil(args.events / args.batch) / api_s, 1),
    }
    if postgres:
        stored = (await _org_id(dsn))[1]
        expected = args.events * args.rounds + len(warmup) * args.batch
        if stored != expected:
            raise SystemExit(f"{stored} rows stored, {expected} expected")
        copy_s = statistics.median(turn["copy_s"] for turn in rounds)
        figures.update(
            {
                "copy_s": copy_s,
                "copy_events_per_s": round(args.events / copy_s),
                "ratio": statistics.median(turn["ratio"] for turn in rounds),
                "ratios": [turn["ratio"] for turn in rounds],
            }
        )
    return figures


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections")
    parser.add_argument("--rounds", type=int, default=3, help="API and COPY turns, alternated")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if min(args.events, args.batch, args.workers, args.concurrency, args.rounds) < 1:
        parser.error("--events, --batch, --workers, --concurrency and --rounds must be positive")
    if args.batch > 1000:
        parser.error("--batch is at most 1000 (the API's limit)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    command = commbase_command()
    with tempfile.TemporaryDirectory(prefix="commbase-bench-ingest-") as tmp:
        workdir = Path(tmp)
        env = server_env(args.database_url, secret=SECRET, run_jobs=False)
        api_key = prepare_database(args.database_url, command, env, workdir)
        port = free_port()
        load_before = os.getloadavg()[0]
        with (workdir / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [
                    *command,
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                figures = asyncio.run(
                    bench(args, base_url=f"http://{HOST}:{port}", api_key=api_key, server=server)
                )
            except SystemExit:
                log.flush()
                lines = (workdir / "server.log").read_text(errors="replace").splitlines()
                print("\n".join(lines[-40:]), file=sys.stderr)
                raise
            finally:
                stop_process(server)
    result = {
        "bench": "ingest",
        "database": args.database_url.split(":", 1)[0].split("+", 1)[0],
        "events": args.events,
        "batch": args.batch,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
