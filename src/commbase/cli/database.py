"""Commands that prepare the database: ``migrate`` (and the migration functions tests
and benchmarks call) and ``demo``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from commbase.cli.console import REFUSED, console, fail, run_command, settled
from commbase.settings import get_settings


def alembic_config(database_url: str | None = None) -> Any:
    from alembic.config import Config

    root = Path(__file__).resolve().parents[3]
    ini = root / "alembic.ini"
    config = Config(str(ini)) if ini.exists() else Config()
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url or get_settings().database_url)
    return config


def database_revision(database_url: str | None = None) -> str | None:
    """The migration revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.engine import Connection

    from commbase.core.db import make_engine

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def current() -> str | None:
        engine = make_engine(database_url or get_settings().database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(settled(current()))


def migrate_database(database_url: str | None = None) -> tuple[str | None, str | None]:
    """Upgrade the database to the latest revision; the revisions before and after."""
    from alembic import command

    before = database_revision(database_url)
    command.upgrade(alembic_config(database_url), "head")
    return before, database_revision(database_url)


def migrate() -> None:
    """Apply every database migration (alembic upgrade head) and say which."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError, InterfaceError

    try:
        before, after = migrate_database()
    except CommandError as exc:
        raise fail(f"cannot migrate: {exc}", code=REFUSED) from exc
    except (DBAPIError, InterfaceError, OSError) as exc:
        raise fail(f"cannot use the database: {exc}", code=REFUSED) from exc
    if before == after:
        console.print(f"[green]database is up to date[/green] at revision {after}; nothing applied")
        return
    script = ScriptDirectory.from_config(alembic_config())
    applied = [rev.revision for rev in script.iterate_revisions(after, before)]
    console.print(
        f"[green]applied {len(applied)} migration(s)[/green]: "
        f"{before or '(empty database)'} -> {after} ({', '.join(reversed(applied))})"
    )


def demo() -> None:
    """Load demo data (idempotent) and print the demo login and API key."""
    from commbase.core.db import Database
    from commbase.demo import load_demo

    settings = get_settings()

    async def load() -> Any:
        database = Database(settings.database_url)
        try:
            return await load_demo(database, secret=settings.secret_key.get_secret_value())
        finally:
            await database.dispose()

    creds = run_command(load())
    state = "created" if creds.created else "already present"
    console.print(f"[bold]Demo data {state}.[/bold]")
    console.print(f"  login     {creds.email} / {creds.password}  (organization {creds.org_slug})")
    console.print(f"  API key   {creds.api_key}")
    console.print(
        "  try       curl -H 'Authorization: Bearer <API key>' http://127.0.0.1:8000/v1/me"
    )
