"""PostgreSQL's side of filing a batch of inbound messages: one statement each for the
messages and for their conversations' times and counts.

The batch travels as one JSON document (orjson writes it in one C call) that
``json_to_recordset`` splits, as tracked events do: an executemany of the same
statements spent more in binding 20 parameters per row and in executing one
UPDATE per conversation than PostgreSQL spent storing them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.driver import driver_of

# Every column ``inbound._row`` fills, with its type, and the defaults it leaves out.
MESSAGE_COLUMNS = (
    ("id", "text"),
    ("org_id", "text"),
    ("account_id", "text"),
    ("conversation_id", "text"),
    ("contact_id", "text"),
    ("direction", "text"),
    ("author_role", "text"),
    ("content_type", "text"),
    ("body", "text"),
    ("media_url", "text"),
    ("media_type", "text"),
    ("metadata", "jsonb"),
    ("reply_to_message_id", "text"),
    ("provider", "text"),
    ("provider_message_id", "text"),
    ("status", "text"),
    ("sent_at", "timestamptz"),
    ("delivered_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
_NAMES = ", ".join(name for name, _ in MESSAGE_COLUMNS)
_INSERT = f"""
INSERT INTO messages ({_NAMES}, template_parameters, attempts)
SELECT {_NAMES}, '[]'::jsonb, 0
FROM json_to_recordset($1::text::json)
    AS r({", ".join(f"{name} {kind}" for name, kind in MESSAGE_COLUMNS)})
ON CONFLICT (account_id, provider_message_id) DO NOTHING
RETURNING id
"""  # noqa: S608  (names from MESSAGE_COLUMNS)

COUNT_COLUMNS = (
    ("first_inbound_at", "timestamptz"),
    ("last_inbound_at", "timestamptz"),
    ("last_activity_at", "timestamptz"),
    ("message_count", "integer"),
    ("inbound_count", "integer"),
    ("updated_at", "timestamptz"),
)
_UPDATE = f"""
UPDATE conversations AS c
SET {", ".join(f"{name} = r.{name}" for name, _ in COUNT_COLUMNS)}
FROM json_to_recordset($1::text::json)
    AS r(id text, {", ".join(f"{name} {kind}" for name, kind in COUNT_COLUMNS)})
WHERE c.id = r.id
"""  # noqa: S608  (names from COUNT_COLUMNS)


async def insert_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the rows (``inbound._row``'s) not stored yet; the ids of those inserted."""
    driver = await driver_of(session)
    # Each row's three foreign-key checks run cached plans (PostgreSQL's default plan
    # cache, kept unless the transaction read analytics: core.plans). Until commit.
    await driver.execute("SET LOCAL plan_cache_mode = auto")
    document = _json([{name: row[name] for name, _ in MESSAGE_COLUMNS} for row in rows])
    return {record[0] for record in await driver.fetch(_INSERT, document)}


async def update_counts(session: AsyncSession, counted: Sequence[dict[str, Any]]) -> None:
    """Set each conversation's inbound times and counts (``inbound._file_in``'s values)."""
    driver = await driver_of(session)
    document = _json(
        [
            {"id": values["b_id"], **{name: values[f"b_{name}"] for name, _ in COUNT_COLUMNS}}
            for values in counted
        ]
    )
    await driver.execute(_UPDATE, document)


def _json(value: Any) -> str:
    """``value`` as JSON text. orjson refuses integers past 64 bits, which a provider's
    raw content copied into ``metadata`` may hold (a WhatsApp location's extra field):
    ``jsonb`` keeps them, so such a batch is written by the standard encoder instead."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_isoformat)


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
