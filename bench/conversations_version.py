"""Conversation metrics at 1,000,000 conversations in one organization: the data version
(the planner's statement of quarter hours holding facts changed since the watermark),
the fold's read of changed rows and a 90-day daily series.

    .venv/bin/python bench/conversations_version.py [--conversations 1000000]
        [--repeat 15] [--reuse] [--explain] [--database-url URL]

Without ``--reuse`` the database (default PostgreSQL ``commbase_h7`` on 127.0.0.1) is
dropped, created and migrated; one organization gets ``--conversations``
conversations over 180 days (one ``INSERT ... SELECT generate_series``: statuses,
assignees, first response and resolution times, sentiment), every one changed
before the fold; ``rollup.fold`` folds them (lag 60 s) and ``VACUUM ANALYZE`` runs.
Then the live tail a fold leaves: 2,000 conversations filed an inbound message
(times, counts and ``updated_at`` move, as ``inbound_pg``'s UPDATE writes them) and
50 were resolved (a status change: ``facts_changed_at`` moves too).

``--reuse`` times the data of an earlier run again, e.g. with the code before a
change: ``PYTHONPATH=/tmp/old/src python bench/conversations_version.py --reuse``
(the old code reads ``updated_at`` as the change time, the new ``facts_changed_at``).

``--repeat`` times each, alternating, in UTC, Europe/Oslo and Asia/Kolkata (UTC+05:30:
every day edge splits an hour, read from its quarter-hour rollups): the 90-day daily
series (ending now) of ``conversations.total``, ``.open``, ``.closed`` and
``.response_time_avg`` through ``Analytics.series`` (no cache), with the time of its
data-version statement (the one reading ``analytics_touches``) taken apart; the same
series by direct aggregation over the raw facts (``use_rollups=False``; results must
be equal, floats at 6 decimals); and, in UTC, the fold's changed-rows read
(``rollup._dirty_hours`` from the watermark to now). Prints one JSON line of medians
and p95 in ms per time zone, the speedup (direct median / registry median), the
code timed (``commbase``: which tree's ``src``) and the 1-minute load average;
``--explain`` prints ``EXPLAIN ANALYZE`` of every statement of one registry series
to stderr.

Only ``conversations`` is vacuumed and analyzed after the fold, as autovacuum would;
``metric_rollups`` gets statistics only if the fold analyzes it (``rollup.fold`` does
after a large fold: PostgreSQL here runs with autovacuum off, and a rollup read
planned without statistics took 300-500 ms instead of 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

import commbase
from commbase.analytics import rollup
from commbase.analytics.enums import Interval
from commbase.analytics.models import Watermark
from commbase.analytics.periods import floor
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.core.db import Database
from commbase.core.time import utcnow
from commbase.identity.models import Organization
from commbase.messaging.metrics import CONVERSATIONS
from commbase.messaging.models import ChannelAccount, Conversation

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import StatementLog, check_droppable, fresh_database
from bench.dashboard import canonical

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/commbase_h7"
ALLOWED_DATABASES = frozenset({"commbase_h7", "commbase_h9"})
METRICS = (
    "conversations.total",
    "conversations.open",
    "conversations.closed",
    "conversations.response_time_avg",
)
DAYS = 180
SERIES_DAYS = 90
ZONES = ("UTC", "Europe/Oslo", "Asia/Kolkata")
CODE = str(Path(commbase.__file__).resolve().parents[1])  # the tree whose code is timed
TAIL_FILED = 2000
TAIL_RESOLVED = 50

# Every conversation: created at an even step over DAYS ending two minutes ago, changed
# ten minutes later (at most then); a status mix, 40 assignees, sentiment.
CHANGED = "least(t + interval '10 minutes', CAST(:sealed AS timestamptz))"
FILL = """
INSERT INTO conversations (
    id, org_id, account_id, contact_id, channel, status, assignee_user_id, labels,
    priority, first_inbound_at, last_inbound_at, first_response_at,
    first_response_seconds, resolved_at, resolution_seconds, last_activity_at,
    message_count, inbound_count, outbound_count, sentiment, sentiment_score, tags,
    booking_details, escalated_to_human, metadata, created_at, updated_at{extra}
)
SELECT
    'conv_bench' || lpad(n::text, 9, '0'), :org, :account, 'cont_' || (n % 50000),
    'whatsapp',
    CASE WHEN n % 10 < 7 THEN 'resolved' WHEN n % 10 < 9 THEN 'open' ELSE 'pending' END,
    'usr_bench' || lpad((n % 40)::text, 2, '0'), '[]'::jsonb, 'none', t, t, t + r,
    extract(epoch FROM r)::int,
    CASE WHEN n % 10 < 7 THEN t + interval '10 minutes' END,
    CASE WHEN n % 10 < 7 THEN 600 END,
    t + interval '10 minutes', 4, 2, 2,
    CASE n % 3 WHEN 0 THEN 'positive' WHEN 1 THEN 'neutral' ELSE 'negative' END,
    ((n % 21) - 10) / 10.0, '[]'::jsonb, '{{}}'::jsonb, n % 17 = 0, '{{}}'::jsonb,
    t, {changed}{extra_value}
FROM (
    SELECT n, CAST(:end AS timestamptz) - (n * CAST(:step AS float8)) * interval '1 second' AS t,
        ((n * 7919) % 900) * interval '1 second' AS r
    FROM generate_series(CAST(1 AS bigint), CAST(:count AS bigint)) AS n
) AS g
"""


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


async def generate(database: Database, count: int) -> str:
    now = utcnow()
    async with database.sessionmaker() as session:
        org = Organization(name="Busy Org", slug=f"busy-{int(now.timestamp())}", timezone="UTC")
        session.add(org)
        await session.flush()
        account = ChannelAccount(org_id=org.id, kind="whatsapp", name="Bench")
        session.add(account)
        await session.flush()
        facts = "facts_changed_at" in Conversation.__table__.columns
        statement = FILL.format(
            changed=CHANGED,
            extra=", facts_changed_at" if facts else "",
            extra_value=f", {CHANGED}" if facts else "",
        )
        sealed = now - timedelta(minutes=2)
        await session.execute(
            text(statement),
            {
                "org": org.id,
                "account": account.id,
                "end": sealed,
                "sealed": sealed,
                "step": DAYS * 86400.0 / count,
                "count": count,
            },
        )
        await session.commit()
        return org.id


async def live_tail(database: Database) -> None:
    """Filing's UPDATEs of 2,000 conversations and 50 resolutions, after the fold."""
    async with database.sessionmaker() as session:
        columns = Conversation.__table__.columns
        ids = list(
            await session.scalars(
                select(Conversation.id).where(Conversation.status == "open").limit(TAIL_FILED)
            )
        )
        filed = ids[TAIL_RESOLVED:]
        await session.execute(
            text(
                "UPDATE conversations SET message_count = message_count + 1, "
                "inbound_count = inbound_count + 1, last_inbound_at = now(), "
                "last_activity_at = now(), updated_at = now() WHERE id = ANY(:ids)"
            ),
            {"ids": filed},
        )
        moved = ", facts_changed_at = now()" if "facts_changed_at" in columns else ""
        await session.execute(
            text(
                "UPDATE conversations SET status = 'resolved', resolved_at = now(), "  # noqa: S608
                f"updated_at = now(){moved} WHERE id = ANY(:ids)"
            ),
            {"ids": ids[:TAIL_RESOLVED]},
        )
        await session.commit()


async def existing(database: Database) -> str:
    async with database.sessionmaker() as session:
        org_id = await session.scalar(
            select(Organization.id).where(Organization.slug.like("busy-%")).limit(1)
        )
    if org_id is None:
        raise SystemExit("--reuse: no data of an earlier run in this database")
    return str(org_id)


def _is_version(statement: str) -> bool:
    return "analytics_touches" in statement and "conversations" in statement


async def measure_zone(
    database: Database, org_id: str, tz: ZoneInfo, repeat: int, log: StatementLog, *, fold: bool
) -> dict[str, Any]:
    """Registry and direct series in one time zone, alternating, after an untimed run of
    each (and with ``fold`` the fold's changed-rows read after each registry series)."""
    end = utcnow()
    start = floor(end - timedelta(days=SERIES_DAYS - 1), Interval.DAY, tz)
    spec = SeriesSpec(METRICS, Interval.DAY, start, end, tz, compare=False)
    async with database.sessionmaker() as session:
        watermark = await session.scalar(
            select(Watermark.position).where(Watermark.source == CONVERSATIONS.watermark_key)
        )
    assert watermark is not None, "no fold of conversations"

    async def series(use_rollups: bool) -> tuple[float, float, Any]:
        log.entries.clear()
        log.active = True
        started = time.perf_counter()
        async with database.sessionmaker() as session:
            result = await Analytics(session, org_id).series(spec, use_rollups=use_rollups)
        elapsed = (time.perf_counter() - started) * 1000
        log.active = False
        version = sum(s for sql, _, s in log.entries if _is_version(sql)) * 1000
        return elapsed, version, result

    async def dirty() -> tuple[float, int]:
        started = time.perf_counter()
        async with database.sessionmaker() as session:
            found = await rollup._dirty_hours(
                session, CONVERSATIONS, CONVERSATIONS.watermark_key, watermark, utcnow()
            )
        return (time.perf_counter() - started) * 1000, sum(len(h) for h in found.values())

    _, _, first = await series(True)
    _, _, direct = await series(False)
    equal = canonical(first) == canonical(direct)
    dirty_hours = (await dirty())[1] if fold else None
    series_ms: list[float] = []
    version_ms: list[float] = []
    direct_ms: list[float] = []
    dirty_ms: list[float] = []
    statements = 0
    for _ in range(repeat):
        elapsed, version, result = await series(True)
        series_ms.append(elapsed)
        version_ms.append(version)
        statements = len(log.entries)
        equal = equal and canonical(result) == canonical(first)
        elapsed, _, result = await series(False)
        direct_ms.append(elapsed)
        equal = equal and canonical(result) == canonical(direct)
        if fold:
            dirty_ms.append((await dirty())[0])
    if not equal:
        for mine, theirs in zip(canonical(first), canonical(direct), strict=True):
            if mine != theirs:
                print(
                    f"differs: {mine[0]}\n  registry {mine}\n  direct   {theirs}", file=sys.stderr
                )
    figures: dict[str, Any] = {
        "tz": str(tz),
        "series_ms": _ms(series_ms),
        "direct_ms": _ms(direct_ms),
        "speedup": round(statistics.median(direct_ms) / statistics.median(series_ms), 1),
        "equal": equal,
        "statements": statements,
        "version_statement_ms": _ms(version_ms),
        "series_total": sum(point["value"] for point in first["series"][0]["points"]),
    }
    if fold:
        figures |= {"fold_dirty_read_ms": _ms(dirty_ms), "fold_dirty_hours": dirty_hours}
    return figures


async def explain(database: Database, org_id: str, log: StatementLog) -> None:
    """EXPLAIN ANALYZE every statement of one registry series (UTC) to stderr."""
    end = utcnow()
    tz = ZoneInfo("UTC")
    start = floor(end - timedelta(days=SERIES_DAYS - 1), Interval.DAY, tz)
    spec = SeriesSpec(METRICS, Interval.DAY, start, end, tz, compare=False)
    log.entries.clear()
    log.active = True
    async with database.sessionmaker() as session:
        await Analytics(session, org_id).series(spec)
    log.active = False
    async with database.engine.connect() as connection:
        await connection.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
        for statement, params, seconds in log.entries:
            if statement.lstrip().upper().startswith("SET"):
                continue
            print(f"\n-- {seconds * 1000:.2f} ms\n{statement}", file=sys.stderr)
            plan = await connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
            )
            print("\n".join("   " + line for (line,) in plan), file=sys.stderr)


async def measure(database: Database, org_id: str, repeat: int, explain_: bool) -> dict[str, Any]:
    log = StatementLog()
    log.install(database)
    gc.collect()
    gc.freeze()
    zones = [
        await measure_zone(database, org_id, ZoneInfo(name), repeat, log, fold=name == "UTC")
        for name in ZONES
    ]
    if explain_:
        await explain(database, org_id, log)
    return {"series": zones, "equal": all(zone["equal"] for zone in zones)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url: str = args.database_url
    database = Database(url)
    load_s = fold_s = None
    try:
        if args.reuse:
            org_id = await existing(database)
        else:
            started = time.perf_counter()
            org_id = await generate(database, args.conversations)
            load_s = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            await rollup.fold(database, now=utcnow(), lag=timedelta(seconds=60))
            fold_s = round(time.perf_counter() - started, 1)
            async with database.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE conversations"))
            await live_tail(database)
        async with database.sessionmaker() as session:
            count = await session.scalar(select(func.count()).select_from(Conversation))
        figures = await measure(database, org_id, args.repeat, args.explain)
        async with database.sessionmaker() as session:
            analyzed = await session.scalar(
                text("SELECT reltuples >= 0 FROM pg_class WHERE relname = 'metric_rollups'")
            )
        return {
            "bench": "conversations_version",
            "commbase": CODE,
            "rollups_analyzed": analyzed,
            "change_time": str(CONVERSATIONS.changed.expression.name),
            "conversations": count,
            "load_s": load_s,
            "fold_s": fold_s,
            "repeat": args.repeat,
            **figures,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if not args.reuse:  # (migrating runs its own event loop)
        check_droppable(args.database_url, ALLOWED_DATABASES)
        fresh_database(args.database_url, ALLOWED_DATABASES)
    result = asyncio.run(run(args))
    print(json.dumps(result))
    if not result["equal"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
