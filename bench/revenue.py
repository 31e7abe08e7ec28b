"""Daily MRR movements over two years: the metric registry vs a direct recomputation in SQL.

    .venv/bin/python bench/revenue.py [--subscriptions 100000] [--changes 1000000]
                                      [--days 730] [--repeat 5] [--database-url URL]

The default database is PostgreSQL ``cb_bench_revenue`` on 127.0.0.1, dropped and
recreated on every run, then migrated; only the names in ``ALLOWED_DATABASES`` are
accepted.

1. Histories: ``--subscriptions`` subscriptions of ``--subscriptions * 0.6``
   customers (so some customers hold several), each started at a random moment of
   the last ``--days`` days, then ``--changes`` changes spread over them in time
   order: a new quantity (a new MRR), a cancellation (MRR 0) or, for a cancelled
   one, a reactivation. They are written to a plain table of the bench,
   ``bench_subscription_changes`` (subscription, customer, moment, MRR after).
2. The MRR movements commbase writes for those changes (``billing_mrr_movements``:
   amount = MRR after - MRR before, kind classified at the customer's level as
   ``billing.revenue.service.record_mrr`` does), loaded with COPY, then
   ``rollup.fold`` (timed) and ``VACUUM ANALYZE``.
3. ``--repeat`` times, alternating: the daily series of ``mrr.new``,
   ``mrr.expansion``, ``mrr.contraction``, ``mrr.churn``, ``mrr.reactivation`` and
   ``mrr.change`` over the whole range through the registry (sealed rollups), plus
   MRR at each day's end (the running total of ``mrr.change``); and the same
   recomputed in one SQL statement from the histories alone (window functions:
   each change's delta per subscription, the customer's MRR before and after, the
   kind from those, daily sums, a running total).

Measured (PostgreSQL 127.0.0.1, shared 2-core machine under other sessions' tests,
full size: 100,000 subscriptions, 1,000,000 changes, 985,258 movements over 730
days, ``--repeat 3``): generate 101 s, load 104 s, fold 364 s; the 731-day series
through the registry 744 ms median, the direct SQL 20,255 ms: ratio 27.2, equal.

Prints one JSON line: sizes, load and fold seconds, the registry's and the direct
SQL's median ms, the ratio (direct / registry), and ``equal`` (every day's five
movements, net change and MRR level). Exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from commbase.analytics import rollup
from commbase.analytics.enums import Interval
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.core.db import Database
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.identity.models import Organization

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import asyncpg_dsn, check_droppable, fresh_database

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_revenue"
ALLOWED_DATABASES = frozenset({"cb_bench_revenue", "commbase_h4_bench"})
KINDS = ("new", "expansion", "contraction", "churn", "reactivation")
METRICS = (*(f"mrr.{kind}" for kind in KINDS), "mrr.change")
PRICES = (1_000, 2_900, 4_900, 9_900, 19_900)  # per seat and month, minor units
PLANS = tuple(f"plan_bench{n}" for n in range(len(PRICES)))
SEALED_BEFORE = timedelta(minutes=5)
FOLD_LAG = timedelta(seconds=60)
CHUNK = 100_000

HISTORY_TABLE = """
CREATE TABLE bench_subscription_changes (
    seq bigint PRIMARY KEY,
    subscription_id text NOT NULL,
    customer_id text NOT NULL,
    at timestamptz NOT NULL,
    mrr bigint NOT NULL
)
"""

# The direct recomputation from the histories alone (see the module's step 3).
DIRECT = """
WITH deltas AS (
    SELECT seq, customer_id, at,
           mrr - COALESCE(LAG(mrr) OVER (PARTITION BY subscription_id ORDER BY seq), 0) AS delta
    FROM bench_subscription_changes
), moves AS (
    SELECT customer_id, at, delta,
           SUM(delta) OVER (PARTITION BY customer_id ORDER BY seq) AS after,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY seq) AS nth
    FROM deltas WHERE delta <> 0
), kinds AS (
    SELECT date_trunc('day', at AT TIME ZONE 'UTC') AS day, delta,
           CASE WHEN after - delta = 0 THEN CASE WHEN nth = 1 THEN 'new' ELSE 'reactivation' END
                WHEN after = 0 THEN 'churn'
                WHEN delta > 0 THEN 'expansion' ELSE 'contraction' END AS kind
    FROM moves
), days AS (
    SELECT day,
           SUM(delta) FILTER (WHERE kind = 'new') AS new,
           SUM(delta) FILTER (WHERE kind = 'expansion') AS expansion,
           SUM(delta) FILTER (WHERE kind = 'contraction') AS contraction,
           SUM(delta) FILTER (WHERE kind = 'churn') AS churn,
           SUM(delta) FILTER (WHERE kind = 'reactivation') AS reactivation,
           SUM(delta) AS change
    FROM kinds GROUP BY day
)
SELECT day, new, expansion, contraction, churn, reactivation, change,
       SUM(change) OVER (ORDER BY day) AS mrr
FROM days ORDER BY day
"""


def histories(
    subscriptions: int, changes: int, start: datetime, end: datetime, seed: int = 12
) -> list[tuple[str, str, datetime, int]]:
    """Every change in time order: (subscription, customer, moment, MRR after)."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    customers = max(1, int(subscriptions * 0.6))
    subs = [
        (f"sub_bench{n:07d}", f"cus_bench{rng.randrange(customers):07d}", rng.randrange(5))
        for n in range(subscriptions)
    ]
    events: list[tuple[float, int]] = [(rng.random() * span * 0.9, n) for n in range(subscriptions)]
    started_at = {n: at for at, n in events}
    for _ in range(changes - subscriptions):
        n = rng.randrange(subscriptions)
        events.append((started_at[n] + rng.random() * (span - started_at[n]), n))
    events.sort()
    seats: dict[int, int] = {}
    out = []
    for at, n in events:
        sub_id, customer_id, plan = subs[n]
        if n not in seats:
            seats[n] = rng.randint(1, 10)  # starts paying
        elif seats[n] == 0:
            seats[n] = rng.randint(1, 10)  # reactivated
        elif rng.random() < 0.15:
            seats[n] = 0  # cancelled
        else:
            seats[n] = max(1, seats[n] + rng.choice((-2, -1, 1, 1, 2, 3)))
        moment = start + timedelta(seconds=at)
        out.append((sub_id, customer_id, moment, seats[n] * PRICES[plan]))
    return out


def movements(
    org_id: str, changes: list[tuple[str, str, datetime, int]], subs_plan: dict[str, str]
) -> list[tuple[Any, ...]]:
    """The movements ``record_mrr`` writes for these changes (customer-level kinds)."""
    sub_mrr: dict[str, int] = defaultdict(int)
    customer_mrr: dict[str, int] = defaultdict(int)
    had: set[str] = set()
    rows = []
    for sub_id, customer_id, at, mrr in changes:
        old = sub_mrr[sub_id]
        if mrr == old:
            continue
        before = customer_mrr[customer_id]
        after = before - old + mrr
        if before == 0:
            kind = "reactivation" if customer_id in had else "new"
        elif after == 0:
            kind = "churn"
        else:
            kind = "expansion" if after > before else "contraction"
        had.add(customer_id)
        sub_mrr[sub_id], customer_mrr[customer_id] = mrr, after
        active = 1 if old == 0 else -1 if mrr == 0 else 0
        rows.append(
            (
                new_id("mrr"),
                org_id,
                sub_id,
                customer_id,
                subs_plan[sub_id],
                kind,
                "USD",
                mrr - old,
                old,
                mrr,
                active,
                True,
                at,
                at,
            )
        )
    return rows


MOVEMENT_COLUMNS = [
    "id",
    "org_id",
    "subscription_id",
    "customer_id",
    "plan_id",
    "kind",
    "currency",
    "amount",
    "mrr_before",
    "mrr_after",
    "active_delta",
    "org_currency",
    "occurred_at",
    "created_at",
]


async def load(url: str, org_id: str, args: argparse.Namespace) -> dict[str, Any]:
    end = utcnow() - SEALED_BEFORE
    start = end - timedelta(days=args.days)
    started = time.perf_counter()
    changes = histories(args.subscriptions, args.changes, start, end)
    plans = {sub: PLANS[int(sub[-7:]) % len(PLANS)] for sub, *_ in changes}
    rows = movements(org_id, changes, plans)
    generated_s = time.perf_counter() - started
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(HISTORY_TABLE)
        history = [(i, s, c, at, mrr) for i, (s, c, at, mrr) in enumerate(changes)]
        for first in range(0, len(history), CHUNK):
            await connection.copy_records_to_table(
                "bench_subscription_changes",
                records=history[first : first + CHUNK],
                columns=["seq", "subscription_id", "customer_id", "at", "mrr"],
            )
        for first in range(0, len(rows), CHUNK):
            await connection.copy_records_to_table(
                "billing_mrr_movements",
                records=rows[first : first + CHUNK],
                columns=MOVEMENT_COLUMNS,
            )
    finally:
        await connection.close()
    return {
        "changes": len(changes),
        "movements": len(rows),
        "generate_s": round(generated_s, 1),
        "load_s": round(time.perf_counter() - started - generated_s, 1),
        "start": start,
    }


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


async def registry_series(database: Database, org_id: str, start: datetime) -> dict[str, list[int]]:
    """Day -> [new, expansion, contraction, churn, reactivation, change, MRR at its end]."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    spec = SeriesSpec(METRICS, Interval.DAY, first, utcnow(), ZoneInfo("UTC"), compare=False)
    async with database.sessionmaker() as session:
        result = await Analytics(session, org_id).series(spec)
    by_metric = {entry["metric"]: entry["points"] for entry in result["series"]}
    days: dict[str, list[int]] = {}
    level = 0
    for i, point in enumerate(by_metric["mrr.change"]):
        values = [int(by_metric[name][i]["value"]) for name in METRICS]
        level += values[-1]
        if any(values):
            days[point["start"][:10]] = [*values, level]
    return days


async def direct_series(database: Database) -> dict[str, list[int]]:
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text(DIRECT))).all()
    return {
        _day(row[0].replace(tzinfo=UTC)): [int(v or 0) for v in row[1:]]
        for row in rows
        if any(row[1:7])
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url: str = args.database_url
    database = Database(url)
    try:
        async with database.sessionmaker() as session:
            org = Organization(name="Recurring Org", slug="recurring-bench", timezone="UTC")
            session.add(org)
            await session.commit()
            org_id = org.id
        loaded = await load(url, org_id, args)
        started = time.perf_counter()
        await rollup.fold(database, now=utcnow(), lag=FOLD_LAG)
        fold_s = time.perf_counter() - started
        async with database.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
        registry_ms, direct_ms = [], []
        registry = direct = {}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            registry = await registry_series(database, org_id, loaded["start"])
            t1 = time.perf_counter()
            direct = await direct_series(database)
            t2 = time.perf_counter()
            registry_ms.append((t1 - t0) * 1000)
            direct_ms.append((t2 - t1) * 1000)
        differing = sorted(
            d for d in set(registry) | set(direct) if registry.get(d) != direct.get(d)
        )
        registry_median = statistics.median(registry_ms)
        direct_median = statistics.median(direct_ms)
        return {
            "bench": "revenue",
            "database": database.dialect,
            "subscriptions": args.subscriptions,
            "changes": loaded["changes"],
            "movements": loaded["movements"],
            "days": args.days,
            "series_days": len(direct),
            "generate_s": loaded["generate_s"],
            "load_s": loaded["load_s"],
            "fold_s": round(fold_s, 1),
            "repeat": args.repeat,
            "registry_ms_median": round(registry_median, 1),
            "direct_sql_ms_median": round(direct_median, 1),
            "ratio_direct_over_registry": round(direct_median / registry_median, 2),
            "final_mrr": next(reversed(direct.values()))[-1] if direct else 0,
            "equal": not differing,
            "differing_days": differing[:5],
        }
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.changes < args.subscriptions:
        raise SystemExit("--changes counts each subscription's start: at least --subscriptions")
    if check_droppable(args.database_url, ALLOWED_DATABASES) != "postgresql":
        raise SystemExit("this benchmark runs on PostgreSQL")
    fresh_database(args.database_url, ALLOWED_DATABASES)
    result = asyncio.run(run(args))
    print(json.dumps(result))
    if not result["equal"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
