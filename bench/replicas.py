"""Analytics reads per second on a primary alone and with a streaming read replica.

    .venv/bin/python bench/replicas.py [--facts 300000] [--days 180] [--seconds 15]
                                       [--processes 2] [--concurrency 4]
                                       [--writes-per-s 200] [--max-lag-ms 50]

Never touches a shared server: it starts its own PostgreSQL primary and a hot-standby
replica made by ``pg_basebackup -R`` (``tests/postgres_replica.py``: initdb, free ports,
a temporary directory, run as the ``postgres`` user when started as root), migrates the
primary, and removes both at the end.

1. Data: one organization, ``--facts`` tracked events of 10 types spread over
   ``--days`` days (asyncpg COPY), folded into hourly rollups once, then ANALYZE;
   the bench waits until the replica has replayed it all.
2. Two runs of ``--seconds`` each, first on the primary alone, then with
   ``COMMBASE_DATABASE_REPLICA_URLS`` naming the replica: ``--processes`` processes,
   each an in-process commbase app (``httpx.ASGITransport``, no cache hits: every
   request's range ends at its own "now") with ``--concurrency`` clients asking
   ``GET /v1/analytics/series`` for a 90-day daily series of ``events.total`` split by
   type, with the previous period. Meanwhile one more process tracks
   ``--writes-per-s`` events per second through ``POST /v1/track/events`` (batches of
   10), so the replica always has WAL to replay and the routing is exercised.
3. Exactness: once the writer has stopped, one more read through the same routing
   (with the replica when named) must equal a count of the rows on the primary.

Prints one JSON line: per run the reads per second, p50/p95 latency in ms, how many
reads the replica and the primary served (``commbase_replica_reads_total`` per
reason), the writes done, and the machine's load average before and after.
On one machine both servers share the same cores: the replica adds capacity only when
the primary's CPU, not Python, bounds the reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # type: ignore[import-untyped]
import httpx
from tests.postgres_replica import StreamingPair

from bench._common import asyncpg_dsn
from commbase.cli import migrate_database

DATABASE = "cb_bench_replicas"
TYPES = [f"type{n}" for n in range(10)]
SECRET = "bench-secret-key-that-is-long-enough-for-production-0123456789"  # noqa: S105
COLUMNS = [
    "org_id",
    "event_id",
    "type",
    "data",
    "metadata",
    "occurred_at",
    "received_at",
    "expires_at",
]


def settings_for(primary: str, replica: str | None, max_lag_ms: int) -> Any:
    from commbase.settings import Settings

    return Settings(
        env="test",
        database_url=primary,
        database_replica_urls=replica or "",
        database_replica_max_lag_ms=max_lag_ms,
        secret_key=SECRET,
        run_jobs=False,
        log_level="ERROR",
        rate_limit_tiers={"standard": {"limit": 10_000_000, "window_s": 60}},
    )


async def seed(primary: str, facts: int, days: int) -> tuple[str, str]:
    """One organization and its API key through commbase, facts by COPY; (org id, key)."""
    from tests.identity.factories import make_tenant

    from commbase.analytics import rollup
    from commbase.app import create_app

    app = create_app(settings_for(primary, None, 50))
    tenant = await make_tenant(app)
    await app.state.db.dispose()
    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    span = (now - timedelta(minutes=5) - start).total_seconds()
    rng = random.Random(7)
    connection = await asyncpg.connect(asyncpg_dsn(primary))
    try:
        rows = []
        for n in range(facts):
            occurred = start + timedelta(seconds=rng.random() * span)
            rows.append(
                (
                    tenant.org_id,
                    f"evt_seed{n}",
                    rng.choice(TYPES),
                    "{}",
                    "{}",
                    occurred,
                    occurred,
                    occurred + timedelta(days=3650),
                )
            )
        await connection.copy_records_to_table(
            "tracked_events",
            records=rows,
            columns=COLUMNS,
        )
    finally:
        await connection.close()
    from commbase.core.db import Database

    database = Database(primary)
    try:
        await rollup.fold(database, now=datetime.now(UTC), lag=timedelta(0))
    finally:
        await database.dispose()
    connection = await asyncpg.connect(asyncpg_dsn(primary))
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return tenant.org_id, tenant.api_key


def _series_params() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "metrics": "events.total",
        "interval": "day",
        "from": (now - timedelta(days=90)).isoformat(),
        "to": now.isoformat(),
        "group_by": "type",
    }


async def _reader_process(
    primary: str, replica: str | None, key: str, args: argparse.Namespace
) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from commbase.app import create_app
    from commbase.core.replicas import REPLICA_READS

    app = create_app(settings_for(primary, replica, args.max_lag_ms))
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    failures = 0
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await asyncio.sleep(max(0.0, args.start_at - time.time()))
            deadline = time.monotonic() + args.seconds

            async def client_loop() -> None:
                nonlocal failures
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    response = await client.get(
                        "/v1/analytics/series", params=_series_params(), headers=headers
                    )
                    if response.status_code != 200:
                        failures += 1
                        continue
                    latencies.append(time.perf_counter() - began)

            await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
    served: dict[str, float] = {}
    for metric in REPLICA_READS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                label = f"{sample.labels['served_by']}: {sample.labels['reason']}"
                served[label] = served.get(label, 0) + sample.value
    return {"latencies": latencies, "failures": failures, "served": served}


def reader(primary: str, replica: str | None, key: str, args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_reader_process(primary, replica, key, args))


async def _writer_process(primary: str, key: str, args: argparse.Namespace) -> int:
    from asgi_lifespan import LifespanManager

    from commbase.app import create_app

    app = create_app(settings_for(primary, None, args.max_lag_ms))
    headers = {"Authorization": f"Bearer {key}"}
    written = 0
    batch = [{"type": random.choice(TYPES)} for _ in range(10)]
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await asyncio.sleep(max(0.0, args.start_at - time.time()))
            began = time.monotonic()
            while time.monotonic() < began + args.seconds:
                response = await client.post("/v1/track/events", json=batch, headers=headers)
                if response.status_code in (200, 201, 202):
                    written += len(batch)
                behind = written / max(args.writes_per_s, 1) - (time.monotonic() - began)
                if behind > 0:
                    await asyncio.sleep(behind)
    return written


def writer(primary: str, key: str, args: argparse.Namespace) -> int:
    return asyncio.run(_writer_process(primary, key, args))


async def count_rows(primary: str, org_id: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(primary))
    try:
        found: int = await connection.fetchval(
            "SELECT count(*) FROM tracked_events WHERE org_id = $1", org_id
        )
        return found
    finally:
        await connection.close()


async def final_read(
    primary: str, replica: str | None, key: str, args: argparse.Namespace
) -> int | None:
    """Once every writer has finished: the organization's events of all time, read
    through the same routing (with the replica when one is named)."""
    from asgi_lifespan import LifespanManager

    from commbase.app import create_app

    app = create_app(settings_for(primary, replica, args.max_lag_ms))
    since = (datetime.now(UTC) - timedelta(days=9 * 365)).isoformat()  # 10 years at most
    params = {**_series_params(), "interval": "year", "from": since}
    del params["group_by"]
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            response = await client.get(
                "/v1/analytics/series", params=params, headers={"Authorization": f"Bearer {key}"}
            )
    if response.status_code != 200:
        print(response.status_code, response.text[:500], file=sys.stderr)
        return None
    return sum(int(series["total"]) for series in response.json()["series"])


def measure(
    primary: str, replica: str | None, org_id: str, key: str, args: argparse.Namespace
) -> dict[str, Any]:
    args.start_at = time.time() + args.spawn_s  # every process starts then
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.processes + 1) as pool:
        writes = pool.apply_async(writer, (primary, key, args)) if args.writes_per_s > 0 else None
        readers = [
            pool.apply_async(reader, (primary, replica, key, args)) for _ in range(args.processes)
        ]
        results = [r.get(timeout=args.seconds * 10 + 300) for r in readers]
        written = writes.get(timeout=args.seconds * 10 + 300) if writes is not None else 0
    latencies = sorted(x for r in results for x in r["latencies"])
    served: dict[str, float] = {}
    for r in results:
        for label, value in r["served"].items():
            served[label] = served.get(label, 0) + value
    truth = asyncio.run(count_rows(primary, org_id))
    answered = asyncio.run(final_read(primary, replica, key, args))
    return {
        "reads_per_s": round(len(latencies) / args.seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1) if latencies else None,
        "failures": sum(r["failures"] for r in results),
        "served": served,
        "writes": written,
        "exact": answered == truth,
        "answered": answered,
        "rows": truth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--writes-per-s", type=int, default=200)
    parser.add_argument("--max-lag-ms", type=int, default=50)
    parser.add_argument("--spawn-s", type=float, default=10.0, help="time to start processes")
    args = parser.parse_args()
    load_before = os.getloadavg()
    pair = StreamingPair()
    try:
        began = time.monotonic()
        pair.start()
        pair.create_database(DATABASE)
        primary, replica = pair.primary.url(DATABASE), pair.replica.url(DATABASE)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(migrate_database, primary).result()
        org_id, key = asyncio.run(seed(primary, args.facts, args.days))
        pair.wait_caught_up(timeout_s=600)
        prepared_s = time.monotonic() - began
        primary_only = measure(primary, None, org_id, key, args)
        pair.wait_caught_up(timeout_s=600)
        with_replica = measure(primary, replica, org_id, key, args)
    finally:
        pair.destroy()
    print(
        json.dumps(
            {
                "bench": "replicas",
                "facts": args.facts,
                "days": args.days,
                "seconds": args.seconds,
                "processes": args.processes,
                "concurrency": args.concurrency,
                "writes_per_s": args.writes_per_s,
                "max_lag_ms": args.max_lag_ms,
                "prepare_s": round(prepared_s, 1),
                "primary_only": primary_only,
                "with_replica": with_replica,
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
