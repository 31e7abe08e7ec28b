"""Monthly partitions of the large append-mostly tables on PostgreSQL.

On PostgreSQL ``tracked_events``, ``call_events`` and ``webhook_attempts`` are
``PARTITION BY RANGE`` on a timestamp (``PARTITIONED``), one partition per UTC
month named ``<table>_pYYYYMM``, plus ``<table>_default`` as a safety net for a
row whose month has no partition yet. Their primary keys (and the tracked events'
unique ``(org_id, event_id)``) include that timestamp, as PostgreSQL requires;
nothing references these tables by foreign key. SQLite keeps plain tables and
never reaches this module's DDL.

The ``core.partitions_ahead`` job creates the current month's and the next
``MONTHS_AHEAD`` months' partitions every day (idempotent; a month whose rows
already sit in the default partition is created and those rows moved into it).
Retention drops a partition wholly when none of its rows is still kept
(``drop_partitions_where_none``) and deletes rows only in the boundary months.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from commbase.core.jobs import JobContext, job

log = structlog.get_logger("commbase.partitions")
MONTHS_AHEAD = 3
# Partitioned table -> its partition key (a timestamptz column).
PARTITIONED: dict[str, str] = {
    "tracked_events": "occurred_at",
    "call_events": "created_at",
    "webhook_attempts": "attempted_at",
}


# Constraints whose columns PostgreSQL's partitioned table widens by the partition key.
WIDENED_ON_POSTGRESQL = frozenset({"uq_tracked_events_org_id_event_id"})


def is_partition_object(name: str | None) -> bool:
    """Whether a reflected table or index name is one of a partition (a month's or the
    default one) rather than of a table the models declare."""
    for table in PARTITIONED:
        rest = (name or "").removeprefix(f"{table}_")
        if rest == name:
            continue
        if rest.split("_", 1)[0] == "default" or (
            rest[:1] == "p" and rest[1:7].isdigit() and rest[7:8] in ("", "_")
        ):
            return True
    return False


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime  # inclusive
    end: datetime  # exclusive


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, months: int) -> datetime:
    index = month.year * 12 + (month.month - 1) + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_for(table: str, month: datetime) -> Partition:
    start = month_start(month)
    return Partition(f"{table}_p{start:%Y%m}", start, add_months(start, 1))


def _dialect(connection: AsyncConnection | AsyncSession) -> str:
    if isinstance(connection, AsyncSession):
        return connection.get_bind().dialect.name
    return connection.dialect.name


async def is_partitioned(connection: AsyncConnection | AsyncSession, table: str) -> bool:
    """Whether ``table`` is a partitioned table here (False on SQLite)."""
    if _dialect(connection) != "postgresql":
        return False
    found = await connection.scalar(
        text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = :table AND c.relnamespace = current_schema()::regnamespace"
        ),
        {"table": table},
    )
    return found is not None


async def month_partitions(
    connection: AsyncConnection | AsyncSession, table: str
) -> list[Partition]:
    """The table's monthly partitions, oldest first (the default partition is not one)."""
    names = await connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:table AS regclass) ORDER BY c.relname"
        ),
        {"table": table},
    )
    prefix = f"{table}_p"
    partitions = []
    for name in names:
        suffix = name.removeprefix(prefix)
        if name.startswith(prefix) and len(suffix) == 6 and suffix.isdigit():
            month = datetime(int(suffix[:4]), int(suffix[4:]), 1, tzinfo=UTC)
            partitions.append(partition_for(table, month))
    return partitions


async def create_month(
    connection: AsyncConnection | AsyncSession, table: str, month: datetime
) -> bool:
    """Create the month's partition unless it exists; True when created.

    Rows of that month already in the default partition move into the new one
    (PostgreSQL refuses ``PARTITION OF`` while the default holds rows of its range).
    """
    part = partition_for(table, month)
    exists = await connection.scalar(text("SELECT to_regclass(:name)"), {"name": part.name})
    if exists is not None:
        return False
    key = PARTITIONED[table]
    bounds = {"start": part.start, "end": part.end}
    values = f"FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
    stray = await connection.scalar(
        text(f"SELECT 1 FROM {table}_default WHERE {key} >= :start AND {key} < :end LIMIT 1"),  # noqa: S608  (names from PARTITIONED)
        bounds,
    )
    if stray is None:
        await connection.execute(
            text(f"CREATE TABLE {part.name} PARTITION OF {table} FOR VALUES {values}")
        )
    else:
        await connection.execute(
            text(
                f"CREATE TABLE {part.name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
        )
        await connection.execute(
            text(
                f"WITH moved AS (DELETE FROM {table}_default "  # noqa: S608  (names from PARTITIONED)
                f"WHERE {key} >= :start AND {key} < :end RETURNING *) "
                f"INSERT INTO {part.name} SELECT * FROM moved"
            ),
            bounds,
        )
        await connection.execute(
            text(f"ALTER TABLE {table} ATTACH PARTITION {part.name} FOR VALUES {values}")
        )
    log.info(
        "partition created", table=table, partition=part.name, moved_from_default=stray is not None
    )
    return True


async def ensure_ahead(
    connection: AsyncConnection | AsyncSession, *, now: datetime, months_ahead: int = MONTHS_AHEAD
) -> int:
    """Create this month's and the next ``months_ahead`` months' partitions of every
    partitioned table that lacks them; how many were created."""
    created = 0
    for table in PARTITIONED:
        if not await is_partitioned(connection, table):
            continue
        for ahead in range(months_ahead + 1):
            created += await create_month(connection, table, add_months(month_start(now), ahead))
    return created


async def drop_partitions_where_none(
    session: AsyncSession,
    table: str,
    *,
    kept: str,
    before: datetime,
    params: dict[str, object],
    before_drop: Callable[[AsyncSession, str], Awaitable[None]] | None = None,
) -> int:
    """Drop each month partition of ``table`` that ends by ``before`` and holds no row
    matching the SQL condition ``kept``; how many rows went with them. Each drop is
    committed at once (with whatever the session held before), after ``before_drop``
    (given the partition's name) did what goes with it, in the same transaction but
    before the partition is detached: detaching locks the whole table."""
    if not await is_partitioned(session, table):
        return 0
    removed = 0
    for part in await month_partitions(session, table):
        if part.end > before:
            continue
        # Partition names come from the catalog, ``kept`` from the caller's code.
        probe = f"SELECT 1 FROM {part.name} WHERE {kept} LIMIT 1"  # noqa: S608
        if await session.scalar(text(probe), params) is not None:
            continue
        counting = f"SELECT count(*) FROM {part.name}"  # noqa: S608
        rows = int(await session.scalar(text(counting)) or 0)
        if before_drop is not None:
            await before_drop(session, part.name)
        await session.execute(text(f"ALTER TABLE {table} DETACH PARTITION {part.name}"))
        await session.execute(text(f"DROP TABLE {part.name}"))
        # Detaching locks the whole table (ingest waits): released at once, not after
        # the rest of the caller's work.
        await session.commit()
        log.info("partition dropped", table=table, partition=part.name, rows=rows)
        removed += rows
    return removed


@job(
    "core.partitions_ahead",
    schedule="17 3 * * *",
    description="Create the next months' partitions of the partitioned tables (PostgreSQL)",
)
async def partitions_ahead(ctx: JobContext) -> int:
    """Create missing monthly partitions ahead of time; how many were created."""
    async with ctx.database.engine.begin() as connection:
        if connection.dialect.name != "postgresql":
            return 0
        return await ensure_ahead(connection, now=ctx.now)
