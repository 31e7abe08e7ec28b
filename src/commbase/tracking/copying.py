"""PostgreSQL: a batch's tracked events written by binary COPY, in the request's transaction.

``copy_rows`` writes the rows ``events`` built (tuples in ``COLUMNS``' order,
``data`` and ``metadata`` as JSON text) with asyncpg's ``copy_records_to_table``
(the binary COPY protocol) on the request's own connection, inside the request's
transaction: whatever else the request writes commits or rolls back with them.
COPY knows no ``ON CONFLICT``: ``write`` copies only the events whose ids it has
just inserted into ``tracked_event_ids`` (or generated), whose keys keep a
concurrent request from storing them. The ids go in by a plain ``INSERT`` first:
for a batch none of whose ids is stored (the common one) it costs PostgreSQL about
half the CPU of ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (6-7 against 12-15
ms a 1,000-id batch: no speculative insertion). A batch sent again (its answer lost)
is the expected duplicate: that insert first looks up the batch's first and last
ids and, either being stored, inserts nothing, so the replay raises no error (and
PostgreSQL logs none); its ids then go in with ``ON CONFLICT``, which says which are
new. An id stored elsewhere in the batch makes the plain insert fail: the batch
rolls back to its savepoint and takes the same way. Fresh
batches cost PostgreSQL about 40% less CPU this way than an ``INSERT ... SELECT
FROM json_to_recordset`` (which parses the whole batch as JSON text on the server).

Connections used to plan each statement afresh (``plan_cache_mode =
force_custom_plan``, then set by ``core.db`` on every connection; now only analytics
reads ask for it, ``core.plans``). That included the foreign key's check of each
stored row against ``organizations`` -- a cached query PostgreSQL would otherwise
plan once per connection -- and cost a 1,000-event batch about 10 ms of server
CPU, a third of its COPY. ``CACHED_PLANS`` states PostgreSQL's default for the rest
of the request's transaction, whatever the connection was given; ingest sends it
before its first statement of the batch, so the insert of its ids runs a cached
plan too.

The batch's first statement (``BEGIN``) states that and opens the batch's
savepoint, in one round trip; the savepoint is never released (it ends with the
transaction), and only a replayed id or a COPY that meets a stored event (``write``)
rolls back to it. ``received_at`` stays a copied column: a column default reading the batch's time
from a setting (``current_setting(...)::timestamptz``) spared asyncpg ~0.6 us of
client CPU a row but cost PostgreSQL ~1.0-1.5 us a row (500,000-row inserts, load ~8).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]

COLUMNS = (
    "org_id",
    "event_id",
    "type",
    "user_id",
    "session_id",
    "call_id",
    "visitor_id",
    "account_id",
    "data",
    "metadata",
    "occurred_at",
    "received_at",
    "expires_at",
)
# One row of tracked_events in COLUMNS' order; data and metadata are JSON text.
Row = tuple[
    str,
    str,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str,
    str,
    datetime,
    datetime,
    datetime,
]
DATA: Final = 8  # positions in Row
METADATA: Final = 9
assert COLUMNS[DATA] == "data"
assert COLUMNS[METADATA] == "metadata"
CACHED_PLANS = "SET LOCAL plan_cache_mode = auto"
_SAVEPOINT: Final = "tracked_events_batch"
# The batch's client ids not stored yet: each is inserted (and so is stored) once. A
# concurrent batch inserting one of them waits on the key until this transaction ends;
# every batch inserts its ids in one order (sorted), so two never wait on each other.
_NEW_IDS = """
INSERT INTO tracked_event_ids (org_id, event_id)
SELECT $1::text, id FROM unnest($2::text[]) AS id ORDER BY id
ON CONFLICT DO NOTHING RETURNING event_id
"""
# The same insert for a batch whose ids are all new; none when one of the ids $3 (the
# batch's first and last) is stored, a unique violation when another is. Two index
# probes: looking every id up first cost a 1,000-id batch ~4 ms, 60% of its insert.
_ALL_IDS = """
INSERT INTO tracked_event_ids (org_id, event_id)
SELECT $1::text, id FROM unnest($2::text[]) AS id
WHERE NOT EXISTS (
    SELECT FROM tracked_event_ids WHERE org_id = $1::text AND event_id = ANY($3::text[])
)
ORDER BY id
"""


BEGIN: Final = f"{CACHED_PLANS}; SAVEPOINT {_SAVEPOINT}"  # the batch's first statement
_UNDO: Final = f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}"


async def write(driver: Any, rows: list[Row], *, chosen: list[str]) -> int:
    """Store ``rows`` (one organization's, in a transaction on ``driver``, an asyncpg
    connection) but those whose id, among the ``chosen`` ones, is stored already; the
    number written. Should one of them be stored without its id's row (an event
    written by a process of the release before ``tracked_event_ids``, while it was
    deployed), the COPY is undone and the rows go in through ``INSERT ... ON CONFLICT
    DO NOTHING``, so the replay is a duplicate, not an error on every retry."""
    await driver.execute(BEGIN)
    new = await _fresh_rows(driver, rows, chosen)
    if not new:
        return 0
    try:
        return await copy_rows(driver, new)
    except asyncpg.UniqueViolationError:
        # Undoes the ids' insert too: it is done again, then the rows not stored.
        await driver.execute(_UNDO)
    new = await _new_rows(driver, rows, chosen)
    return await _insert_skipping_stored(driver, new) if new else 0


async def _fresh_rows(driver: Any, rows: list[Row], chosen: list[str]) -> list[Row]:
    """What ``_new_rows`` returns, by a plain insert of the ``chosen`` ids when none is
    stored yet; when the first or the last is (a replay), the insert does nothing and
    ``_new_rows`` decides; when another one is, its unique violation is undone first."""
    if chosen:
        try:
            status = await driver.execute(_ALL_IDS, rows[0][0], chosen, [chosen[0], chosen[-1]])
        except asyncpg.UniqueViolationError:
            await driver.execute(_UNDO)
        else:
            if status != "INSERT 0 0":  # all inserted: none was stored
                return rows
    return await _new_rows(driver, rows, chosen)


async def _new_rows(driver: Any, rows: list[Row], chosen: list[str]) -> list[Row]:
    """``rows`` but those whose id is stored already: the ``chosen`` ids are inserted
    into ``tracked_event_ids``; generated ones cannot repeat a stored id."""
    if not chosen:
        return rows
    fresh = await driver.fetch(_NEW_IDS, rows[0][0], chosen)
    if len(fresh) == len(chosen):
        return rows
    stored = set(chosen).difference(record[0] for record in fresh)
    return [row for row in rows if row[1] not in stored]


async def copy_rows(driver: Any, rows: list[Row]) -> int:
    """COPY ``rows`` into ``tracked_events`` on ``driver`` (an asyncpg connection in a
    transaction); the number written."""
    # SQLAlchemy's jsonb codec on this connection takes JSON text.
    await driver.copy_records_to_table("tracked_events", records=rows, columns=COLUMNS)
    return len(rows)


_NAMES = ", ".join(COLUMNS)  # constant column names, no input
_INCOMING = (
    "CREATE TEMP TABLE tracked_events_incoming ON COMMIT DROP AS "  # noqa: S608
    f"SELECT {_NAMES} FROM tracked_events WITH NO DATA"
)
_INSERT_INCOMING = (
    f"INSERT INTO tracked_events ({_NAMES}) SELECT {_NAMES} "  # noqa: S608
    "FROM tracked_events_incoming ON CONFLICT DO NOTHING"
)


async def _insert_skipping_stored(driver: Any, rows: list[Row]) -> int:
    await driver.execute(_INCOMING)
    await driver.copy_records_to_table("tracked_events_incoming", records=rows, columns=COLUMNS)
    status = await driver.execute(_INSERT_INCOMING)
    await driver.execute("DROP TABLE tracked_events_incoming")
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <rows>"
