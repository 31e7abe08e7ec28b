"""The outbox's own cost on PostgreSQL: events recorded, then claimed and completed.

    .venv/bin/python bench/outbox.py [--events 6000] [--batch 100] [--concurrency 8]
                                     [--database-url URL]

``bench/calls.py`` runs the ``calls.dial`` effect but not the ``webhooks`` fan-out,
which claims and completes six of a call's seven deliveries. This bench measures
that part alone. The database (default PostgreSQL ``commbase_bench_outbox`` on
127.0.0.1) is created when missing and migrated. Two consumers hear ``contact.deleted`` (those
the app registers are set aside for the run): ``bench.fan_out``, claimed and
completed in one transaction per batch, as the webhooks fan-out does, and
``bench.effect``, claimed in one transaction and completed in another, as the
effect runner does.

1. ``record``: ``--concurrency`` clients record ``--events`` events, one committed
   transaction each (an event and its two deliveries).
2. ``fan_out``: batches of ``--batch`` claimed and completed in one transaction.
3. ``effect``: batches claimed, committed, then completed in another transaction.

Per phase: PostgreSQL's CPU per event (``pg_cpu_ms_per_*``: the bench database's
backends, and every PostgreSQL process, read from ``/proc`` as ``bench/calls.py``
does), statements per event, and the outbox tables' rows inserted, updated (HOT
among them) and deleted, from ``pg_stat_user_tables``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from commbase.core import outbox
from commbase.core.db import Database

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import SqlCounter, prepare_database
from bench.calls import _postgres_cpu_s

FAN_OUT = "bench.fan_out"
EFFECT = "bench.effect"
EVENT_TYPE = "contact.deleted"
WORKER = "bench-worker"
_TABLE_COUNTS = text(
    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
    " WHERE relname IN ('outbox_events', 'outbox_deliveries')"
)


async def _table_counts(database: Database) -> dict[str, list[int]]:
    """The outbox tables' counters, once every backend so far has reported: the pool's
    connections are closed (a backend flushes its statistics as it exits)."""
    await database.engine.dispose()
    await asyncio.sleep(0.5)
    async with database.sessionmaker() as session:
        rows = (await session.execute(_TABLE_COUNTS)).all()
    await database.engine.dispose()
    return {str(name): [int(v) for v in values] for name, *values in rows}


async def _record(database: Database, *, events: int, concurrency: int, org_id: str) -> None:
    issued = 0

    async def client() -> None:
        nonlocal issued
        while issued < events:
            issued += 1
            async with database.sessionmaker() as session:
                await outbox.record(session, EVENT_TYPE, {"id": f"cnt_{issued}"}, org_id=org_id)
                await session.commit()

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def _drain(database: Database, *, consumer: str, batch: int, same_transaction: bool) -> int:
    done = 0
    while True:
        async with database.sessionmaker() as session:
            claimed = await outbox.claim(
                session, consumer=consumer, worker_id=WORKER, limit=batch, lease_s=60
            )
            if not same_transaction:
                await session.commit()
            if claimed:
                done += await outbox.complete(
                    session, delivery_ids=[c.delivery_id for c in claimed], worker_id=WORKER
                )
            await session.commit()
        if not claimed:
            return done


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    outbox._consumers = {FAN_OUT: (EVENT_TYPE,), EFFECT: (EVENT_TYPE,)}
    database = Database(args.database_url)
    name = make_url(args.database_url).database
    sql = SqlCounter()
    sql.attach(database)
    org_id = f"org_bench_outbox_{int(time.time())}"
    figures: dict[str, Any] = {"bench": "outbox", "events": args.events, "batch": args.batch}
    phases: dict[str, Callable[[], Awaitable[int | None]]] = {
        "record": lambda: _record(
            database, events=args.events, concurrency=args.concurrency, org_id=org_id
        ),
        "fan_out": lambda: _drain(
            database, consumer=FAN_OUT, batch=args.batch, same_transaction=True
        ),
        "effect": lambda: _drain(
            database, consumer=EFFECT, batch=args.batch, same_transaction=False
        ),
    }
    try:
        for phase, run in phases.items():
            tables_before = await _table_counts(database)
            statements, pg_before, started = (
                sql.statements,
                _postgres_cpu_s(name),
                time.perf_counter(),
            )
            handled = await run()
            elapsed = time.perf_counter() - started
            pg_after, sent = _postgres_cpu_s(name), sql.statements - statements
            tables_after = await _table_counts(database)
            if phase != "record" and handled != args.events:
                figures[f"{phase}_handled"] = handled
            figures[f"pg_cpu_ms_per_{phase}"] = [
                round((b - a) * 1000 / args.events, 3)
                for a, b in zip(pg_before, pg_after, strict=True)
            ]
            figures[f"sql_per_{phase}"] = round(sent / args.events, 3)
            figures[f"{phase}_per_s"] = round(args.events / elapsed, 1)
            figures[f"{phase}_tuples"] = {
                table: dict(
                    zip(
                        ("ins", "upd", "hot_upd", "del"),
                        (b - a for a, b in zip(tables_before[table], after, strict=True)),
                        strict=True,
                    )
                )
                for table, after in tables_after.items()
            }
    finally:
        await database.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/commbase_bench_outbox",
    )
    args = parser.parse_args()
    prepare_database(args.database_url)
    print(json.dumps(asyncio.run(_bench(args)), separators=(",", ":")))


if __name__ == "__main__":
    main()
