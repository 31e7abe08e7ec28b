"""A busy organization's dashboard: a 90-day daily series of ten metrics, registry vs raw.

    .venv/bin/python bench/dashboard.py [--facts 2000000] [--days 180] [--repeat 15]
                                        [--tz Europe/Oslo] [--database-url URL]
                                        [--explain]

The default database is PostgreSQL ``cb_bench_dashboard`` on 127.0.0.1, dropped
and recreated on every run, then migrated (``commbase.cli.migrate_database``);
only ``cb_bench_dashboard`` and ``cb_bench_dashboard2`` (and the names listed in
``COMMBASE_BENCH_DROPPABLE``) are accepted there.
``--database-url sqlite+aiosqlite:///path.db`` runs the same on SQLite (the file
is deleted first; use a smaller ``--facts``, e.g. 300000).

1. Data: one organization with a wallet, ``--facts`` calls spread over ``--days``
   days (status mix, duration, cost, ratings, quality, countries, 40 agents),
   ``--facts / 10`` ledger entries (top-ups, call charges, a few refunds) and
   ``--facts / 20`` tracked events, every one changed at least two minutes ago.
   PostgreSQL loads them with asyncpg ``copy_records_to_table``, SQLite with
   ``executemany`` in large transactions.
2. ``rollup.fold`` once (timed: folding every fact into hourly rollups is the
   first figure), then ``ANALYZE``.
3. A live tail, as a fold a minute ago leaves it: calls placed since the fold,
   ratings arriving late on old calls (their hours turn dirty) and new ledger
   entries, all newer than the watermark.
4. ``--repeat`` times, alternating, the 90-day daily series ending now of the ten
   metrics below through the registry (sealed rollups -- a 24-hour window per whole
   day, hours and quarter hours around what changed -- plus the live tail, no
   cache) and by direct aggregation over the raw facts (``use_rollups=False``), in
   ``--tz`` and again in Asia/Kolkata (UTC+05:30: every day edge splits an hour).
   Each request gets its own session.
   Results must be equal (points and totals; floats compared at 6 decimals).

Prints one JSON line: sizes, load and fold seconds, per time zone the registry's
and the direct path's median and p95 in ms, the speedup (direct median /
registry median), ``equal``, and the statements a registry request sends with
the time spent waiting for them (the rest is Python). ``--explain`` prints
``EXPLAIN ANALYZE`` of each statement of one registry request to stderr
(PostgreSQL only). ``--reuse`` times the data of the previous run again (no
load, no fold), e.g. after a change to the engine.

Before timing, the process freezes its objects out of the garbage collector
(``gc.freeze``) as the served app does after start-up; without it, collections
walking the data generator's leftovers and every module added 1-2 ms of Python to
a request at random.

Requests run one after another, so they share one pooled connection and its
asyncpg prepared statements. This bench found that from the 6th execution of a
statement PostgreSQL may switch to a generic plan (``plan_cache_mode=auto``), and
the live-tail query's generic plan, blind to its hour ranges, scanned the whole
90 days (2 s instead of 90 ms); commbase's analytics reads run with
``plan_cache_mode=force_custom_plan`` (``core.plans``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import Table, func, select, text, update

from commbase.analytics import rollup
from commbase.analytics.enums import Interval
from commbase.analytics.models import MetricRollup
from commbase.analytics.periods import floor
from commbase.analytics.registry import registered
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.billing.models import LedgerEntry, Wallet
from commbase.calls.models import Call
from commbase.core.db import Database
from commbase.core.time import utcnow
from commbase.identity.models import Organization
from commbase.tracking.models import TrackedEvent

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import StatementLog, asyncpg_dsn, check_droppable, fresh_database

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_dashboard"
# COMMBASE_BENCH_DROPPABLE (comma-separated) names more databases this bench may drop.
ALLOWED_DATABASES = frozenset(
    {"cb_bench_dashboard", "cb_bench_dashboard2"}
    | {n for n in os.environ.get("COMMBASE_BENCH_DROPPABLE", "").split(",") if n}
)
METRICS = (
    "calls.total",
    "calls.completed",
    "calls.failed",
    "calls.success_rate",
    "calls.duration",
    "calls.duration_avg",
    "calls.cost",
    "calls.rating_avg",
    "revenue.topups",
    "revenue.call_charges",
)
SERIES_DAYS = 90
CHUNK = 50_000
FOLD_LAG = timedelta(seconds=60)
SEALED_BEFORE = timedelta(minutes=2)  # every generated fact changed before now - this
TAIL_CALLS = 120
TAIL_LATE_RATINGS = 20
TAIL_LEDGER = 15
KOLKATA = "Asia/Kolkata"

STATUSES = ("completed", "failed", "busy", "no-answer", "canceled")
STATUS_WEIGHTS = (70, 8, 7, 12, 3)
END_REASONS = {
    "completed": "hangup",
    "failed": "error",
    "busy": "busy",
    "no-answer": "no_answer",
    "canceled": "canceled",
}
COUNTRIES = ("NO", "SE", "DK", "DE", "GB", "US", "FR", "NL", "PL", "ES", "IT", "FI", "IN", "BR")
COUNTRY_WEIGHTS = (30, 12, 8, 10, 9, 8, 5, 4, 3, 3, 3, 2, 2, 1)
LINE_TYPES = ("mobile", "landline", "voip")
LINE_WEIGHTS = (70, 25, 5)
AGENTS = tuple(f"usr_bench{n:02d}" for n in range(40))
EVENT_TYPES = ("call.quality_degraded", "balance.low", "rate_limit.hit", "widget.opened")
EVENT_WEIGHTS = (40, 5, 5, 50)


# ------------------------------------------------------------------ database


# ------------------------------------------------------------------ facts


class Rows:
    """Rows of one table in its column order, built from a template of defaults."""

    def __init__(self, table: Table, defaults: dict[str, Any]) -> None:
        self.table = table
        self.columns = [c.name for c in table.columns if c.name in defaults]
        self.position = {name: i for i, name in enumerate(self.columns)}
        self.template = [defaults[name] for name in self.columns]
        self.json = {
            i for i, name in enumerate(self.columns) if "JSON" in type(table.c[name].type).__name__
        }

    def row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        out = list(self.template)
        for name, value in values.items():
            out[self.position[name]] = value
        return tuple(out)

    def for_copy(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """JSON columns as text, which asyncpg's json/jsonb codecs take."""
        if not self.json:
            return list(rows)
        out = []
        for row in rows:
            values = list(row)
            for i in self.json:
                values[i] = orjson.dumps(values[i]).decode()
            out.append(tuple(values))
        return out

    def as_dicts(self, rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in rows]


def _defaults(table: Table, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every column but ``skip``: its scalar Python default, an empty JSON value, or null."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name in skip:
            continue
        value: Any = None
        default = column.default
        if "JSON" in type(column.type).__name__:
            value = [] if column.name == "tags" else {}
        elif default is not None and default.is_scalar:
            value = default.arg  # type: ignore[attr-defined]
        values[column.name] = value
    return values


def _quality(mos: float) -> str:
    if mos >= 4.2:
        return "excellent"
    if mos >= 3.6:
        return "good"
    return "fair" if mos >= 3.1 else "poor"


@dataclass
class Generator:
    org_id: str
    wallet_id: str
    start: datetime
    end: datetime  # every generated fact changed before this
    rng: random.Random = field(default_factory=lambda: random.Random(20261122))

    def moment(self) -> datetime:
        span = (self.end - self.start).total_seconds()
        # A working-day shape: fewer calls at night, none after ``end``.
        while True:
            at = self.start + timedelta(seconds=self.rng.random() * span)
            hour = at.hour
            if 6 <= hour <= 20 or self.rng.random() < 0.25:
                return at

    def moments(self, count: int) -> list[datetime]:
        """``count`` moments in time order: facts are written as they happen, so a
        table's rows of one hour sit together on disk, as in production."""
        return sorted(self.moment() for _ in range(count))

    def call(self, number: int, created: datetime, changed_until: datetime) -> dict[str, Any]:
        rng = self.rng
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        kind = "video" if rng.random() < 0.1 else "voice"
        values: dict[str, Any] = {
            "id": f"call_bench{number:012d}",
            "org_id": self.org_id,
            "kind": kind,
            "direction": "inbound" if rng.random() < 0.2 else "outbound",
            "user_id": rng.choice(AGENTS),
            "wallet_id": self.wallet_id,
            "to_country": rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0],
            "to_line_type": rng.choices(LINE_TYPES, LINE_WEIGHTS)[0],
            "status": status,
            "end_reason": END_REASONS[status],
            "initiated_at": created,
            "provider": "simulator",
            "currency": "USD",
            "created_at": created,
        }
        ended = created + timedelta(seconds=rng.randint(5, 40))
        if status == "completed":
            duration = min(int(rng.expovariate(1 / 240)) + 5, 3600)
            answered = created + timedelta(seconds=rng.randint(2, 25))
            ended = answered + timedelta(seconds=duration)
            minutes = math.ceil(duration / 60)
            rate = rng.choice((2, 3, 5, 8, 13))
            mos = round(rng.uniform(2.8, 4.5), 2)
            values.update(
                {
                    "ringing_at": created,
                    "answered_at": answered,
                    "duration_seconds": duration,
                    "waiting_time_seconds": (answered - created).seconds,
                    "response_time_seconds": (answered - created).seconds,
                    "billable_minutes": minutes,
                    "rate_per_minute": Decimal(rate) / 100,
                    "cost_amount": minutes * rate,
                    "mos_score": mos,
                    "latency_ms": rng.randint(20, 400),
                    "jitter_ms": rng.randint(1, 60),
                    "packet_loss": round(rng.uniform(0, 3), 3),
                    "quality": _quality(mos),
                    "problem_solved": rng.random() < 0.7 if rng.random() < 0.5 else None,
                }
            )
            if rng.random() < 0.2:
                values["review_rating"] = rng.choices((1, 2, 3, 4, 5), (5, 7, 15, 33, 40))[0]
                values["reviewed_at"] = ended + timedelta(seconds=30)
                ended = values["reviewed_at"]
        values["ended_at"] = ended
        values["updated_at"] = min(ended + timedelta(seconds=1), changed_until)
        return values

    def ledger(self, number: int, created: datetime) -> dict[str, Any]:
        rng = self.rng
        pick = rng.random()
        if pick < 0.15:
            kind, category, amount = "credit", "wallet_topup", rng.choice((1000, 2500, 5000, 10000))
        elif pick < 0.16:
            kind, category, amount = "refund", "call_refund", rng.randint(5, 500)
        else:
            kind, category, amount = "debit", "call_charge", rng.randint(2, 900)
        balance = rng.randint(10_000, 1_000_000)
        after = balance + amount if kind in ("credit", "refund") else balance - amount
        return {
            "id": f"txn_bench{number:012d}",
            "org_id": self.org_id,
            "wallet_id": self.wallet_id,
            "type": kind,
            "category": category,
            "status": "completed" if rng.random() < 0.98 else "pending",
            "amount": amount,
            "minutes": 0,
            "currency": "USD",
            "balance_before": balance,
            "balance_after": after,
            "minutes_before": 0,
            "minutes_after": 0,
            "user_id": rng.choice(AGENTS),
            "payment_method": "stripe" if kind == "credit" else None,
            "created_at": created,
            "completed_at": created,
        }

    def tracked(self, number: int, occurred: datetime) -> dict[str, Any]:
        rng = self.rng
        return {
            "org_id": self.org_id,
            "event_id": f"evt_bench{number:012d}",
            "type": rng.choices(EVENT_TYPES, EVENT_WEIGHTS)[0],
            "user_id": rng.choice(AGENTS),
            "data": {"n": number},
            "metadata": {"sdk_version": "1.4.2"},
            "occurred_at": occurred,
            "received_at": occurred + timedelta(milliseconds=rng.randint(50, 900)),
            "expires_at": occurred + timedelta(days=90),
        }


def chunks(
    count: int, make: Callable[[int], dict[str, Any]], rows: Rows
) -> Iterator[list[tuple[Any, ...]]]:
    for first in range(0, count, CHUNK):
        yield [rows.row(make(n)) for n in range(first, min(count, first + CHUNK))]


async def load(
    database: Database, url: str, rows: Rows, batches: Iterator[list[tuple[Any, ...]]]
) -> int:
    """Insert every batch: COPY on PostgreSQL, executemany on SQLite."""
    written = 0
    if database.dialect == "postgresql":
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for batch in batches:
                await connection.copy_records_to_table(
                    rows.table.name, records=rows.for_copy(batch), columns=rows.columns
                )
                written += len(batch)
        finally:
            await connection.close()
        return written
    for batch in batches:
        async with database.engine.begin() as connection:
            await connection.execute(rows.table.insert(), rows.as_dicts(batch))
        written += len(batch)
    return written


# ------------------------------------------------------------------ timing


def _normal(value: Any) -> Any:
    return round(float(value), 6) if isinstance(value, float) else value


def canonical(result: dict[str, Any]) -> list[Any]:
    return [
        [
            entry["metric"],
            entry["group"],
            [[p["start"], _normal(p["value"])] for p in entry["points"]],
            _normal(entry["total"]),
        ]
        for entry in result["series"]
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def _series(
    database: Database, org_id: str, spec: SeriesSpec, *, use_rollups: bool
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    async with database.sessionmaker() as session:
        result = await Analytics(session, org_id).series(spec, use_rollups=use_rollups)
    return (time.perf_counter() - started) * 1000, result


async def measure(
    database: Database, org_id: str, spec: SeriesSpec, repeat: int, log: StatementLog
) -> dict[str, Any]:
    """Registry and direct paths, alternating, after one untimed run of each."""
    _, registry_result = await _series(database, org_id, spec, use_rollups=True)
    _, direct_result = await _series(database, org_id, spec, use_rollups=False)
    equal = canonical(registry_result) == canonical(direct_result)
    registry_ms: list[float] = []
    direct_ms: list[float] = []
    for _ in range(repeat):
        elapsed, result = await _series(database, org_id, spec, use_rollups=True)
        registry_ms.append(elapsed)
        equal = equal and canonical(result) == canonical(registry_result)
        elapsed, result = await _series(database, org_id, spec, use_rollups=False)
        direct_ms.append(elapsed)
        equal = equal and canonical(result) == canonical(direct_result)
    log.entries.clear()
    log.active = True
    traced_ms, _ = await _series(database, org_id, spec, use_rollups=True)
    log.active = False
    sql_ms = sum(e[2] for e in log.entries) * 1000
    registry_median = statistics.median(registry_ms)
    direct_median = statistics.median(direct_ms)
    if not equal:
        for mine, theirs in zip(canonical(registry_result), canonical(direct_result), strict=True):
            if mine != theirs:
                print(
                    f"differs: {mine[0]}\n  registry {mine}\n  direct   {theirs}", file=sys.stderr
                )
    return {
        "tz": str(spec.tz),
        "points": len(registry_result["series"][0]["points"]),
        "registry_ms_median": round(registry_median, 2),
        "registry_ms_p95": round(_percentile(registry_ms, 0.95), 2),
        "direct_ms_median": round(direct_median, 2),
        "direct_ms_p95": round(_percentile(direct_ms, 0.95), 2),
        "speedup": round(direct_median / registry_median, 1),
        "equal": equal,
        "registry_statements": len(log.entries),
        "registry_statement_ms": [round(e[2] * 1000, 2) for e in log.entries],
        "registry_sql_ms": round(sql_ms, 2),
        "registry_python_ms": round(traced_ms - sql_ms, 2),
    }


async def explain(database: Database, org_id: str, spec: SeriesSpec, log: StatementLog) -> None:
    """EXPLAIN ANALYZE each statement of one registry request (PostgreSQL)."""
    log.entries.clear()
    log.active = True
    await _series(database, org_id, spec, use_rollups=True)
    log.active = False
    statements = list(log.entries)
    async with database.engine.connect() as connection:
        for statement, params, seconds in statements:
            print(f"\n-- {seconds * 1000:.2f} ms\n{statement}", file=sys.stderr)
            if statement.lstrip().upper().startswith("SET "):
                # ``core.plans``' SET LOCAL: sent as it is (the plans below follow it),
                # as there is nothing to explain.
                await connection.exec_driver_sql(statement, params)
                continue
            plan = await connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
            )
            for (line,) in plan:
                print("   " + line, file=sys.stderr)


# ------------------------------------------------------------------ run


async def generate(database: Database, url: str, args: argparse.Namespace) -> dict[str, Any]:
    now = utcnow()
    async with database.sessionmaker() as session:
        org = Organization(name="Busy Org", slug=f"busy-{int(now.timestamp())}", timezone=args.tz)
        session.add(org)
        await session.flush()
        wallet = Wallet(org_id=org.id, owner_type="organization", owner_id=org.id, currency="USD")
        session.add(wallet)
        await session.commit()
        org_id, wallet_id = org.id, wallet.id
    end = now - SEALED_BEFORE
    gen = Generator(org_id, wallet_id, now - timedelta(days=args.days), end)
    calls_table: Table = Call.__table__  # type: ignore[assignment]
    ledger_table: Table = LedgerEntry.__table__  # type: ignore[assignment]
    events_table: Table = TrackedEvent.__table__  # type: ignore[assignment]
    calls = Rows(calls_table, _defaults(calls_table))
    ledger = Rows(ledger_table, _defaults(ledger_table))
    events = Rows(events_table, _defaults(events_table, frozenset({"seq"})))
    started = time.perf_counter()
    call_times = gen.moments(args.facts)
    ledger_times = gen.moments(args.facts // 10)
    event_times = gen.moments(args.facts // 20)
    counts = {
        "calls": await load(
            database,
            url,
            calls,
            chunks(args.facts, lambda n: gen.call(n, call_times[n], end), calls),
        ),
        "ledger_entries": await load(
            database,
            url,
            ledger,
            chunks(args.facts // 10, lambda n: gen.ledger(n, ledger_times[n]), ledger),
        ),
        "tracked_events": await load(
            database,
            url,
            events,
            chunks(args.facts // 20, lambda n: gen.tracked(n, event_times[n]), events),
        ),
    }
    load_s = time.perf_counter() - started
    return {
        "org_id": org_id,
        "wallet_id": wallet_id,
        "gen": gen,
        "counts": counts,
        "load_s": load_s,
        "tables": (calls, ledger),
    }


async def live_tail(
    database: Database, url: str, gen: Generator, calls: Rows, ledger: Rows, facts: int
) -> None:
    """What a fold a minute ago leaves behind: new calls, late ratings, new ledger entries."""
    now = utcnow()
    new_calls = [
        calls.row(gen.call(facts + n, now - timedelta(seconds=gen.rng.randint(1, 300)), now))
        for n in range(TAIL_CALLS)
    ]
    entries = [
        ledger.row(gen.ledger(facts + n, now - timedelta(seconds=gen.rng.randint(0, 50))))
        for n in range(TAIL_LEDGER)
    ]
    await load(database, url, calls, iter([new_calls]))
    await load(database, url, ledger, iter([entries]))
    # Ratings arriving late on old completed calls: their hours become dirty.
    async with database.sessionmaker() as session:
        old = list(
            await session.scalars(
                select(Call.id)
                .where(Call.org_id == gen.org_id, Call.status == "completed")
                .where(Call.review_rating.is_(None))
                .order_by(Call.id)
                .offset(facts // 3)
                .limit(TAIL_LATE_RATINGS * 997)
            )
        )[::997]
        await session.execute(
            update(Call)
            .where(Call.id.in_(old))
            .values(review_rating=4, reviewed_at=utcnow(), updated_at=utcnow())
        )
        await session.commit()


async def existing(database: Database) -> dict[str, Any]:
    """The organization and facts of an earlier run (``--reuse``)."""
    async with database.sessionmaker() as session:
        org_id = await session.scalar(
            select(Organization.id).where(Organization.slug.like("busy-%")).limit(1)
        )
        if org_id is None:
            raise SystemExit("--reuse: no data of an earlier run in this database")
        counts = {
            "calls": await session.scalar(select(func.count()).select_from(Call)),
            "ledger_entries": await session.scalar(select(func.count()).select_from(LedgerEntry)),
            "tracked_events": await session.scalar(select(func.count()).select_from(TrackedEvent)),
        }
    return {"org_id": org_id, "counts": counts, "load_s": None}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url: str = args.database_url
    database = Database(url)
    log = StatementLog()
    log.install(database)
    try:
        missing = [name for name in METRICS if name not in registered()]
        if missing:
            raise SystemExit(f"metrics not in the registry: {missing}")
        fold_s: float | None = None
        rollup_rows: int | None = None
        if args.reuse:
            data = await existing(database)
        else:
            data = await generate(database, url, args)
            started = time.perf_counter()
            rollup_rows = await rollup.fold(database, now=utcnow(), lag=FOLD_LAG)
            fold_s = time.perf_counter() - started
            async with database.engine.connect() as connection:
                if database.dialect == "postgresql":
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await connection.execute(text("VACUUM ANALYZE"))
                else:
                    await connection.execute(text("ANALYZE"))
                    await connection.commit()
            calls, ledger = data["tables"]
            await live_tail(database, url, data["gen"], calls, ledger, args.facts)
        org_id: str = data["org_id"]
        async with database.sessionmaker() as session:
            stored = await session.scalar(
                select(MetricRollup.hour).where(MetricRollup.org_id == org_id).limit(1)
            )
            assert stored is not None, "the fold wrote no rollups"
        # As the served app does after its start-up (``app.create_served_app``): what lives
        # as long as the process (modules, compiled SQL, the generated data's leftovers)
        # out of the cyclic collector's generations, so its walks do not land in requests.
        gc.collect()
        gc.freeze()
        end = utcnow()
        results = []
        for tz_name in dict.fromkeys([args.tz, KOLKATA]):
            tz = ZoneInfo(tz_name)
            start = floor(end - timedelta(days=SERIES_DAYS - 1), Interval.DAY, tz)
            spec = SeriesSpec(METRICS, Interval.DAY, start, end, tz, compare=False)
            results.append(await measure(database, org_id, spec, args.repeat, log))
            if args.explain and database.dialect == "postgresql":
                await explain(database, org_id, spec, log)
        return {
            "bench": "dashboard",
            "database": database.dialect,
            "facts": data["counts"],
            "days": args.days,
            "load_s": round(data["load_s"], 1) if data["load_s"] is not None else None,
            "fold_s": round(fold_s, 2) if fold_s is not None else None,
            "fold_facts_per_s": (
                round(sum(data["counts"].values()) / fold_s) if fold_s is not None else None
            ),
            "rollup_rows": rollup_rows,
            "metrics": len(METRICS),
            "repeat": args.repeat,
            "series": results,
            "equal": all(r["equal"] for r in results),
        }
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--facts", type=int, default=2_000_000, help="calls to generate")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--tz", default="Europe/Oslo")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the data of the last run again (no load, no fold)",
    )
    args = parser.parse_args()
    if args.days < SERIES_DAYS:
        raise SystemExit(f"--days must cover the {SERIES_DAYS}-day series")
    check_droppable(args.database_url, ALLOWED_DATABASES)
    if not args.reuse:
        fresh_database(args.database_url, ALLOWED_DATABASES)
    result = asyncio.run(run(args))
    print(json.dumps(result))
    if not result["equal"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
