"""Migration 0013 on a database with data: contacts sharing a phone merge into the
oldest, names become searchable, phones are written internationally, and existing
transcripts are searched in their own language.

PostgreSQL runs in a scratch schema of the test database, so the migrated schema
the other tests use is left alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, MetaData, Table, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from commbase.calls.transcripts import service as transcripts
from commbase.cli import alembic_config
from commbase.core.db import make_engine
from commbase.core.pagination import PageParams
from tests.conftest import PG_URL

SCHEMA = "h7_migration_0013"
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'migration.db'}")
        yield engine
        await engine.dispose()
        return
    if PG_URL is None:
        pytest.skip("COMMBASE_TEST_DATABASE_URL is not set")
    engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": SCHEMA}})
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    yield engine
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    await engine.dispose()


async def migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    # Given a connection, Alembic's env.py uses it as it is (no event loop of its own).
    async with engine.connect() as connection:
        await connection.run_sync(run)
        await connection.commit()


def _filler(column: Any) -> Any:
    """A value for a NOT NULL column the test does not care about."""
    kind = column.type.__class__.__name__.lower()
    if "bool" in kind:
        return False
    if "int" in kind or "numeric" in kind or "float" in kind or "double" in kind:
        return 0
    if "json" in kind:
        return {}
    if "date" in kind or "time" in kind:
        return T0
    return "x"


async def add(connection: AsyncConnection, table_name: str, **values: Any) -> None:
    """Insert a row as the table is at this revision, filling required columns."""

    def reflect(sync: Connection) -> Table:
        return Table(table_name, MetaData(), autoload_with=sync)

    table = await connection.run_sync(reflect)
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if column.primary_key and column.autoincrement is True:
            continue
        row[column.name] = _filler(column)
    if connection.dialect.name == "sqlite":
        # commbase stores naive UTC text on SQLite.
        row = {
            name: value.astimezone(UTC).replace(tzinfo=None)
            if isinstance(value, datetime)
            else value
            for name, value in row.items()
        }
    await connection.execute(insert(table).values(row))


def contact(
    id_: str, org: str, phone: str | None, created: datetime, **values: Any
) -> dict[str, Any]:
    return {
        "id": id_,
        "org_id": org,
        "name": values.pop("name", id_),
        "phone": phone,
        "phone_formatted": None,
        "labels": values.pop("labels", []),
        "metadata": values.pop("metadata", {}),
        "attributes": values.pop("attributes", {}),
        "blocked": values.pop("blocked", False),
        "total_calls": values.pop("total_calls", 0),
        "total_duration": values.pop("total_duration", 0),
        "created_at": created,
        "updated_at": created,
        **values,
    }


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for org in ("org_a", "org_b"):
            await add(connection, "organizations", id=org, name=org, slug=org)
        rows = [
            contact(
                "cnt_1",
                "org_a",
                "+420601123456",
                T0,
                name="Jan Novák",
                labels=["vip"],
                notes="First note",
                metadata={"company": "Acme"},
                attributes={"tier": "gold"},
                total_calls=5,
                total_duration=300,
                first_called_at=T0 + timedelta(days=1),
                last_called_at=T0 + timedelta(days=5),
            ),
            contact(
                "cnt_2",
                "org_a",
                "+420601123456",
                T0 + timedelta(days=2),
                name="Jan N.",
                labels=["lead", "vip"],
                notes="Second note",
                metadata={"company": "Other", "title": "CTO"},
                attributes={"tier": "silver", "seats": 3},
                blocked=True,
                total_calls=7,
                total_duration=420,
                first_called_at=T0 + timedelta(days=2),
                last_called_at=T0 + timedelta(days=9),
            ),
            contact("cnt_3", "org_a", "+14155551234", T0, name="ŽOFIE Straße"),
            contact("cnt_4", "org_a", None, T0),
            contact("cnt_5", "org_a", None, T0),
            contact("cnt_6", "org_b", "+420601123456", T0 + timedelta(days=3)),
        ]
        for row in rows:
            await add(connection, "contacts", **row)
        languages = {"call_en": "en-US", "call_de": "de", "call_cs": "cs"}
        texts = {
            "call_en": "I called about the refund",
            "call_de": "Die Rechnungen sind bezahlt",
            "call_cs": "Volám kvůli faktuře",
        }
        for call_id, language in languages.items():
            await add(
                connection,
                "calls",
                id=call_id,
                org_id="org_a",
                status="completed",
                provider="simulator",
                contact_id="cnt_2" if call_id == "call_en" else None,
                created_at=T0,
                updated_at=T0,
            )
            await add(
                connection,
                "transcripts",
                id=call_id.replace("call", "trans"),
                org_id="org_a",
                call_id=call_id,
                language=language,
                status="completed",
                segments=[],
                text=texts[call_id],
                created_at=T0,
                updated_at=T0,
            )


async def found(engine: AsyncEngine, query: str) -> set[str]:
    async with AsyncSession(engine) as session:
        hits, _ = await transcripts.search(
            session, org_id="org_a", query=query, params=PageParams(limit=20, after_id=None)
        )
    return {hit.transcript_id for hit in hits}


async def test_migration_0013_merges_duplicate_phones_and_indexes_languages(
    engine: AsyncEngine,
) -> None:
    await migrate(engine, "0012")
    await seed(engine)

    await migrate(engine, "0013")

    async with engine.connect() as connection:
        rows = {
            row.id: row
            for row in (
                await connection.execute(
                    text(
                        "SELECT id, org_id, name, search_name, phone, phone_formatted, labels, "
                        "notes, metadata, attributes, blocked, total_calls, total_duration, "
                        "first_called_at, last_called_at FROM contacts"
                    )
                )
            ).all()
        }
        assert set(rows) == {"cnt_1", "cnt_3", "cnt_4", "cnt_5", "cnt_6"}
        kept = rows["cnt_1"]

        def as_json(value: Any) -> Any:
            return json.loads(value) if isinstance(value, str) else value

        assert (kept.name, kept.search_name) == ("Jan Novák", "jan novak")
        assert kept.phone_formatted == "+420 601 123 456"
        assert as_json(kept.labels) == ["vip", "lead"]
        assert kept.notes == "First note\n\nSecond note"
        assert as_json(kept.metadata) == {"company": "Acme", "title": "CTO"}
        assert as_json(kept.attributes) == {"tier": "gold", "seats": 3}
        assert bool(kept.blocked) is True
        assert (kept.total_calls, kept.total_duration) == (7, 420)
        assert str(kept.first_called_at).startswith("2026-01-11")
        assert str(kept.last_called_at).startswith("2026-01-19")
        assert rows["cnt_3"].search_name == "zofie strasse"
        assert rows["cnt_3"].phone_formatted == "+1 415-555-1234"
        assert rows["cnt_4"].phone_formatted is None
        # The other organization's contact with the same number is its own.
        assert rows["cnt_6"].phone == "+420601123456"

        contact_of_call = await connection.scalar(
            text("SELECT contact_id FROM calls WHERE id = 'call_en'")
        )
        assert contact_of_call == "cnt_1"
        touched = (
            await connection.execute(text("SELECT org_id, source, hour FROM analytics_touches"))
        ).all()
        removed_hour = int((T0 + timedelta(days=2)).timestamp() // 3600)
        assert [tuple(row) for row in touched] == [("org_a", "contacts", removed_hour)]
        configs: dict[str, str] = {
            row.id: row.search_config
            for row in await connection.execute(text("SELECT id, search_config FROM transcripts"))
        }
        assert configs == {"trans_en": "english", "trans_de": "german", "trans_cs": "simple"}

    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await add(
                connection,
                "contacts",
                **contact("cnt_7", "org_a", "+420601123456", T0, search_name="x"),
            )

    assert await found(engine, "calling") == {"trans_en"}
    assert await found(engine, "the") == set()
    assert await found(engine, "faktuře") == {"trans_cs"}
    postgres = engine.dialect.name == "postgresql"
    assert await found(engine, "Rechnung") == ({"trans_de"} if postgres else set())

    # And back: the old index works again; merged contacts stay merged.
    await migrate(engine, "0012", down=True)
    async with engine.connect() as connection:
        count = await connection.scalar(select(text("count(*)")).select_from(text("contacts")))
        assert count == 5
        if not postgres:
            hits = await connection.scalar(
                text("SELECT count(*) FROM transcripts_fts WHERE transcripts_fts MATCH 'refund'")
            )
            assert hits == 1
