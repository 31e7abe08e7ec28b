"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from commbase.cli import alembic_config, migrate_database
from commbase.core import partitions
from commbase.core.db import make_engine
from commbase.models import Base


def hand_made_search_objects(connection: Connection) -> set[str]:
    """Full-text search structures the migrations create by hand, outside the models:
    FTS5 virtual tables and their shadow tables on SQLite, ``to_tsvector`` indexes
    on PostgreSQL. Everything else must match the models exactly."""
    if connection.dialect.name == "sqlite":
        virtual = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master "
            "WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).scalars()
        names = set(virtual)
        shadows = {
            table
            for table in inspect(connection).get_table_names()
            if any(table.startswith(f"{name}_") for name in names)
        }
        return names | shadows
    indexes = connection.exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%to_tsvector%'"
    ).scalars()
    return set(indexes)


def schema_diff(connection: Connection) -> list[Any]:
    skipped = hand_made_search_objects(connection)

    postgresql = connection.dialect.name == "postgresql"

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if postgresql and (
            partitions.is_partition_object(name) or name in partitions.WIDENED_ON_POSTGRESQL
        ):
            return False  # monthly partitions; keys that include the partition key
        return not (reflected and compare_to is None and name in skipped)

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "render_as_batch": connection.dialect.name == "sqlite",
            "target_metadata": Base.metadata,
            "include_object": include_object,
        },
    )
    return list(compare_metadata(context, Base.metadata))


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def diff_for(database_url: str) -> list[Any]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(schema_diff)
    finally:
        await engine.dispose()


def in_thread(func: Any, *args: Any) -> Any:
    # Alembic's env.py runs its own event loop; keep it off the test's.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func, *args).result()


async def test_migrations_match_the_models(database_url: str) -> None:
    # ``database_url`` is a database migrated to head by the test harness.
    diff = await diff_for(database_url)

    assert diff == []


async def test_a_fresh_sqlite_database_migrates_to_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"

    in_thread(migrate_database, url)

    assert await diff_for(url) == []


async def test_migrations_downgrade_to_empty_and_back(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    config = alembic_config(url)
    in_thread(migrate_database, url)

    in_thread(command.downgrade, config, "base")
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            left = await connection.run_sync(table_names)
    finally:
        await engine.dispose()
    assert left <= {"alembic_version"}

    in_thread(migrate_database, url)
    assert await diff_for(url) == []


def test_migration_history_has_one_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))

    assert len(scripts.get_heads()) == 1


async def test_the_comparison_notices_drift(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drifted.db'}"
    in_thread(migrate_database, url)
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP INDEX ix_job_runs_job_started")
    finally:
        await engine.dispose()

    diff = await diff_for(url)

    assert [(change[0], change[1].name) for change in diff] == [
        ("add_index", "ix_job_runs_job_started")
    ]


async def test_sqlite_table_rebuilds_keep_the_rows_referencing_them(tmp_path: Path) -> None:
    """Batch mode rebuilds ``calls`` (0055: its unique keys become partial indexes) by
    copying it, dropping it and renaming the copy. With foreign keys on, the ``DROP``
    deleted every call's events and actions (``ON DELETE CASCADE``): migrating a
    database with calls in it lost them, and so did the downgrade."""
    path = tmp_path / "calls.db"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    in_thread(command.upgrade, config, "0054")

    def counts() -> list[int]:
        with sqlite3.connect(path) as connection:
            return [
                connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                for table in ("calls", "call_events", "call_actions")
            ]

    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA foreign_keys=ON")
        for table, values in (
            ("organizations", {"id": "org_1"}),
            ("calls", {"id": "call_1", "org_id": "org_1", "provider": "simulator"}),
            ("call_events", {"org_id": "org_1", "call_id": "call_1"}),
            ("call_actions", {"id": "act_1", "org_id": "org_1", "call_id": "call_1"}),
        ):
            row = {**_required_values(connection, table), **values}
            names = ", ".join(row)
            marks = ", ".join("?" * len(row))
            insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
            connection.execute(insert, list(row.values()))
    assert counts() == [1, 1, 1]
    in_thread(command.upgrade, config, "head")
    assert counts() == [1, 1, 1]
    in_thread(command.downgrade, config, "0054")
    assert counts() == [1, 1, 1]


async def test_a_sqlite_migration_leaving_a_broken_reference_is_rolled_back(
    tmp_path: Path,
) -> None:
    """With foreign keys off while migrating, nothing stops a reference losing its row:
    the check at the end refuses the migration (one line for ``commbase migrate``) and
    the database stays at its revision."""
    path = tmp_path / "broken.db"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    in_thread(command.upgrade, config, "0054")
    with sqlite3.connect(path) as connection:  # foreign keys off: an orphan event
        row = {
            **_required_values(connection, "call_events"),
            "org_id": "org_1",
            "call_id": "call_gone",
        }
        names, marks = ", ".join(row), ", ".join("?" * len(row))
        insert = f"INSERT INTO call_events ({names}) VALUES ({marks})"  # noqa: S608
        connection.execute(insert, list(row.values()))
    with pytest.raises(CommandError, match="references without their row"):
        in_thread(command.upgrade, config, "head")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0054",)
        ]


def _required_values(connection: sqlite3.Connection, table: str) -> dict[str, Any]:
    """A value for every NOT NULL column without a default (the test's rows care about
    their ids and references only)."""
    values: dict[str, Any] = {}
    for _, name, kind, not_null, default, primary in connection.execute(
        f"PRAGMA table_info({table})"
    ):
        if not not_null or default is not None or (primary and "INT" in kind.upper()):
            continue
        kind = kind.upper()
        if any(word in kind for word in ("INT", "BOOL", "NUMERIC", "FLOAT")):
            values[name] = 0
        elif "DATE" in kind:
            values[name] = "2026-01-01 00:00:00.000000"
        elif "JSON" in kind:
            values[name] = "{}"
        else:
            values[name] = "x"
    return values
