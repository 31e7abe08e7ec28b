"""Alembic environment: async engines, SQLite batch mode, commbase's metadata."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy.engine import Connection

from commbase.core import partitions
from commbase.core.db import make_engine
from commbase.models import Base
from commbase.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


# Full-text search structures are dialect-specific and made by hand in migrations.
_HAND_MADE = ("transcripts_fts", "ix_transcripts_search", "messages_fts", "ix_messages_search")


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Monthly partitions (and their indexes) are made by core.partitions, not the models.
    return not (name or "").startswith(_HAND_MADE) and not partitions.is_partition_object(name)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
        # SQLite migrates with foreign keys off (``_foreign_keys_off``); each revision
        # is its own transaction there (no transactional DDL), checked before it commits.
        on_version_apply=[_check_foreign_keys] if connection.dialect.name == "sqlite" else [],
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: batch mode changes a table by rebuilding it (a copy, ``DROP TABLE``, a
    rename). With foreign keys on, that ``DROP`` first deletes every row, and with them
    the rows of every table referencing it ``ON DELETE CASCADE`` (a call's events,
    actions, transcripts...). The pragma does nothing inside a transaction, so the
    migrations' connection is given it when it opens (after ``core.db``'s ``ON``)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _check_foreign_keys(*, ctx: MigrationContext, **_: Any) -> None:
    """Refuse (roll back) a revision that left a reference without its row, before its
    transaction commits; ``commbase migrate`` says so in one line (a ``CommandError``)."""
    assert ctx.connection is not None
    broken = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise CommandError(
            f"the migration left {len(broken)} references without their row, e.g. "
            f"{[tuple(row) for row in broken[:5]]} (table, rowid, referenced table, key)"
        )


async def run_migrations_online() -> None:
    engine = make_engine(_url())
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    existing = config.attributes.get("connection")
    if existing is not None:
        _run_sync(existing)
    else:
        asyncio.run(run_migrations_online())
