"""PostgreSQL: a batch's tracked events written by binary COPY, in the request's transaction.

``copy_rows`` writes the rows ``events._rows`` built (tuples in ``COLUMNS``' order,
``data`` and ``metadata`` as JSON text) with asyncpg's ``copy_records_to_table``
(the binary COPY protocol) on the request's own connection, inside the request's
transaction: whatever else the request writes commits or rolls back with them.
COPY knows no ``ON CONFLICT``: the caller copies only the events whose ids it has
just inserted into ``tracked_event_ids`` (or generated), whose keys keep a
concurrent request from storing them (``events._insert_postgres``). Fresh
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
RECEIVED_AT: Final = 11
assert COLUMNS[DATA] == "data"
assert COLUMNS[METADATA] == "metadata"
assert COLUMNS[RECEIVED_AT] == "received_at"
CACHED_PLANS = "SET LOCAL plan_cache_mode = auto"


async def copy_rows(driver: Any, rows: list[Row]) -> int:
    """COPY ``rows`` into ``tracked_events`` on ``driver`` (an asyncpg connection in a
    transaction); the number written."""
    # SQLAlchemy's jsonb codec on this connection takes JSON text.
    await driver.copy_records_to_table("tracked_events", records=rows, columns=COLUMNS)
    return len(rows)


async def copy_new_rows(driver: Any, rows: list[Row]) -> int:
    """COPY ``rows``, whose ids ``tracked_event_ids`` just took as new; the number
    written. Should one of them be stored already (an event written without its id's
    row: by a process of the release before that table, while it was deployed), the
    COPY is undone and the rows go in through ``INSERT ... ON CONFLICT DO NOTHING``, so
    the replay is a duplicate, not an error on every retry."""
    await driver.execute("SAVEPOINT copy_new_rows")
    try:
        written = await copy_rows(driver, rows)
    except asyncpg.UniqueViolationError:
        await driver.execute("ROLLBACK TO SAVEPOINT copy_new_rows")
        return await _insert_skipping_stored(driver, rows)
    await driver.execute("RELEASE SAVEPOINT copy_new_rows")
    return written


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
