"""partitions: tracked_events, call_events and webhook_attempts partitioned by month
on PostgreSQL (no-op on SQLite)

Each table is renamed aside, recreated ``PARTITION BY RANGE`` on its timestamp with
a default partition and one partition per month its rows span (through three
months ahead), filled with ``INSERT ... SELECT``, and the old table dropped; the
primary key (and the tracked events' unique key) then include the timestamp.
Its sequence carries over, so ids continue. Downgrade does the reverse.

Revision ID: 0038
Revises: 0037
Create Date: 2026-11-28 21:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3

# table: (partition key, id column, unique columns or None, indexes, foreign keys)
TABLES: dict[str, dict[str, object]] = {
    "tracked_events": {
        "key": "occurred_at",
        "id": "seq",
        "unique": ("uq_tracked_events_org_id_event_id", "org_id, event_id"),
        "indexes": {
            "ix_tracked_events_expires_at": "expires_at",
            "ix_tracked_events_org_occurred": "org_id, occurred_at",
            "ix_tracked_events_org_received": "org_id, received_at",
            "ix_tracked_events_org_type_occurred": "org_id, type, occurred_at",
            "ix_tracked_events_org_user": "org_id, user_id",
        },
        "fks": {
            "fk_tracked_events_org_id_organizations": "(org_id) REFERENCES organizations(id)",
        },
    },
    "call_events": {
        "key": "created_at",
        "id": "id",
        "unique": None,
        "indexes": {"ix_call_events_org_call": "org_id, call_id"},
        "fks": {
            "fk_call_events_call_id_calls": "(call_id) REFERENCES calls(id)",
            "fk_call_events_org_id_organizations": "(org_id) REFERENCES organizations(id)",
        },
    },
    "webhook_attempts": {
        "key": "attempted_at",
        "id": "id",
        "unique": None,
        "indexes": {"ix_webhook_attempts_org_delivery": "org_id, delivery_id"},
        "fks": {
            "fk_webhook_attempts_delivery_id_webhook_deliveries": (
                "(delivery_id) REFERENCES webhook_deliveries(id)"
            ),
            "fk_webhook_attempts_org_id_organizations": "(org_id) REFERENCES organizations(id)",
        },
    },
}


def _months(first: datetime, last: datetime) -> list[datetime]:
    months, month = [], datetime(first.year, first.month, 1, tzinfo=UTC)
    while month <= last:
        months.append(month)
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return months


def _ahead(now: datetime, months: int) -> datetime:
    index = now.year * 12 + now.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _strip(table: str, spec: dict[str, object]) -> None:
    """Free the names of ``table``'s constraints and indexes for the new table."""
    unique = spec["unique"]
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table.removesuffix('_old')}")
    if unique:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {unique[0]}")  # type: ignore[index]
    for name in spec["indexes"]:  # type: ignore[attr-defined]
        op.execute(f"DROP INDEX {name}")
    for name in spec["fks"]:  # type: ignore[attr-defined]
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def _dress(table: str, spec: dict[str, object], *, partitioned: bool) -> None:
    """Give ``table`` its keys, indexes and foreign keys."""
    key, ident, unique = spec["key"], spec["id"], spec["unique"]
    pk = f"{ident}, {key}" if partitioned else ident
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({pk})")
    if unique:
        name, columns = unique  # type: ignore[misc]
        columns = f"{columns}, {key}" if partitioned else columns
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({columns})")
    for name, columns in spec["indexes"].items():  # type: ignore[attr-defined]
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    for name, target in spec["fks"].items():  # type: ignore[attr-defined]
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {target} ON DELETE CASCADE"
        )


def _move(table: str, spec: dict[str, object], *, partitioned: bool) -> None:
    bind = op.get_bind()
    ident = spec["id"]
    sequence = f"{table}_{ident}_seq"
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    _strip(f"{table}_old", spec)
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    how = f" PARTITION BY RANGE ({spec['key']})" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {table}_old INCLUDING DEFAULTS){how}")
    if partitioned:
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        key = spec["key"]
        first, last = bind.execute(text(f"SELECT min({key}), max({key}) FROM {table}_old")).one()  # noqa: S608
        now = datetime.now(UTC)
        first = min(first or now, now)
        last = max(last or now, _ahead(now, MONTHS_AHEAD))
        for month in _months(first, last):
            end = _ahead(month, 1)
            op.execute(
                f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {table} "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{end.isoformat()}')"
            )
    rows = f"SELECT * FROM {table}_old o"  # noqa: S608
    if not partitioned and spec["unique"]:
        # The plain table's unique key has no month: of events stored twice under one
        # id (another timestamp), the first stored one goes back.
        _, columns = spec["unique"]  # type: ignore[misc]
        same = " AND ".join(f"p.{c} = o.{c}" for c in columns.split(", "))
        earlier = f"SELECT 1 FROM {table}_old p WHERE {same} AND p.{ident} < o.{ident}"  # noqa: S608
        rows += f" WHERE NOT EXISTS ({earlier})"
    op.execute(f"INSERT INTO {table} {rows}")
    op.execute(f"DROP TABLE {table}_old")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{ident}")
    _dress(table, spec, partitioned=partitioned)
    op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, spec in TABLES.items():
        _move(table, spec, partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, spec in TABLES.items():
        # Dropping the partitioned parent drops its partitions with it.
        _move(table, spec, partitioned=False)
