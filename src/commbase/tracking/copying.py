"""PostgreSQL: a batch's tracked events written by binary COPY, in the request's transaction.

``copy_rows`` writes the rows ``events._rows`` built with asyncpg's
``copy_records_to_table`` (the binary COPY protocol) on the request's own
connection, inside a savepoint of the request's transaction: whatever else the
request writes (its outbox rows) commits or rolls back with them. COPY knows no
``ON CONFLICT``, so an event id the organization already stored (a replayed
batch) fails the savepoint with a unique violation; the savepoint is rolled back
and ``copy_rows`` answers None, and the caller writes the batch with its
``INSERT ... ON CONFLICT DO NOTHING`` instead. Fresh batches, the common case,
cost PostgreSQL about 40% less CPU this way than that statement's
``json_to_recordset``, which parses the whole batch as JSON text on the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson

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
_SAVEPOINT = "tracked_events_copy"


async def copy_rows(
    driver: Any, rows: list[dict[str, Any]], *, org_id: str, now: datetime
) -> int | None:
    """COPY ``rows`` into ``tracked_events`` on ``driver`` (an asyncpg connection in a
    transaction); the number written, or None when an event id was already stored
    (nothing is written then)."""
    dumps = orjson.dumps
    records = [
        (
            org_id,
            row["event_id"],
            row["type"],
            row["user_id"],
            row["session_id"],
            row["call_id"],
            row["visitor_id"],
            row["account_id"],
            # SQLAlchemy's jsonb codec on this connection takes JSON text.
            dumps(row["data"]).decode(),
            dumps(row["metadata"]).decode(),
            row["occurred_at"],
            now,
            row["expires_at"],
        )
        for row in rows
    ]
    # asyncpg's own transaction() refuses to nest in SQLAlchemy's BEGIN: plain SQL.
    await driver.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        await driver.copy_records_to_table("tracked_events", records=records, columns=COLUMNS)
    except asyncpg.UniqueViolationError:
        await driver.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        return None
    await driver.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    return len(records)
