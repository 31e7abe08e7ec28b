"""The ``commbase`` command: serve, migrate, demo, users, keys, jobs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from commbase.core.errors import CommbaseError
from commbase.settings import get_settings

app = typer.Typer(
    help="commbase: backend for voice, video and chat businesses.", no_args_is_help=True
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook delivery.", no_args_is_help=True)
effects_app = typer.Typer(
    help="Effects after commit: dialing, card charges, refunds.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(effects_app, name="effects")
# Soft wrap: keys and ids are printed whole, for the terminal to wrap, not cut.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

# Exit codes: 2 for a mistake in the command line (as click's usage errors), 1 when
# the command was understood but could not be done.
USAGE, REFUSED = 2, 1


def fail(message: str, *, code: int = USAGE) -> typer.Exit:
    """Print ``message`` as an error (no traceback); the ``typer.Exit`` to raise."""
    errors.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _field_messages(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or 'value'}: {err['msg']}"
        for err in exc.errors()
    )


async def _settled(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``, then let SQLite's worker threads finish before the loop closes.

    aiosqlite stops a connection that failed to open from its worker thread, which
    then reports back to the event loop; were the loop closed by then, the thread
    would die printing a traceback under the command's own error message.
    """
    try:
        return await coro
    finally:
        for thread in threading.enumerate():
            if thread.name.endswith("(_connection_worker_thread)"):
                await asyncio.to_thread(thread.join, 1.0)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; what the user got wrong is a message, not a traceback."""
    from sqlalchemy.exc import DBAPIError, InterfaceError

    try:
        return asyncio.run(_settled(coro))
    except ValidationError as exc:
        raise fail(_field_messages(exc)) from exc
    except CommbaseError as exc:
        details = [str(err.get("message")) for err in exc.errors or [] if err.get("message")]
        message = exc.detail + (f" ({'; '.join(details)})" if details else "")
        raise fail(message, code=REFUSED) from exc
    except (DBAPIError, InterfaceError, OSError) as exc:
        raise fail(f"cannot use the database: {exc}", code=REFUSED) from exc


def alembic_config(database_url: str | None = None) -> Any:
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]
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

    return asyncio.run(_settled(current()))


def migrate_database(database_url: str | None = None) -> tuple[str | None, str | None]:
    """Upgrade the database to the latest revision; the revisions before and after."""
    from alembic import command

    before = database_revision(database_url)
    command.upgrade(alembic_config(database_url), "head")
    return before, database_revision(database_url)


@app.command()
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes")] = False,
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    uvicorn.run(
        "commbase.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=False,  # commbase reads X-Forwarded-For from trusted proxies itself
        access_log=False,
        log_config=None,
    )


@app.command()
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

    creds = _run(load())
    state = "created" if creds.created else "already present"
    console.print(f"[bold]Demo data {state}.[/bold]")
    console.print(f"  login     {creds.email} / {creds.password}  (organization {creds.org_slug})")
    console.print(f"  API key   {creds.api_key}")
    console.print(
        "  try       curl -H 'Authorization: Bearer <API key>' http://127.0.0.1:8000/v1/me"
    )


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    organization: Annotated[str, typer.Option(help="Organization slug; created if missing")],
    role: Annotated[str, typer.Option(help="owner, admin, agent or viewer")] = "owner",
    first_name: Annotated[str, typer.Option()] = "",
    last_name: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a user (and the organization, if it does not exist yet)."""
    from commbase.core.db import Database
    from commbase.identity import service
    from commbase.identity.roles import Role
    from commbase.identity.schemas import UserCreate

    try:
        chosen = Role(role)
    except ValueError:
        raise fail(f"--role is one of {', '.join(r.value for r in Role)}, not {role!r}") from None
    try:
        # Checked before anything is written: a mistake leaves no new organization behind.
        data = UserCreate(
            email=email, password=password, first_name=first_name, last_name=last_name, role=chosen
        )
    except ValidationError as exc:
        raise fail(_field_messages(exc)) from exc
    settings = get_settings()

    async def create() -> tuple[str, str, str | None]:
        database = Database(settings.database_url)
        try:
            async with database.sessionmaker() as session:
                org = await service.find_organization(session, slug_or_id=organization)
                created_org = None
                if org is None:
                    org = await service.create_organization(
                        session, name=organization, slug=service.slugify(organization)
                    )
                    created_org = org.id
                user, _ = await service.create_user(session, data=data, org_id=org.id)
                await session.commit()
                return user.id, org.slug, created_org
        finally:
            await database.dispose()

    user_id, slug, created_org = _run(create())
    if created_org is not None:
        console.print(
            f"created organization {slug} ({created_org}): no organization was {organization!r}"
        )
    console.print(f"created {user_id} ({email}) as {role} of {slug}")


@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="The key's creator (a member)")],
    organization: Annotated[str, typer.Option(help="Organization slug")],
    name: Annotated[str, typer.Option(help="Key name")] = "CLI key",
    environment: Annotated[str, typer.Option(help="live or test")] = "live",
    scopes: Annotated[
        str | None, typer.Option(help="Comma-separated; default all the creator has")
    ] = None,
) -> None:
    """Create an API key for a member and print its secret (shown once)."""
    from commbase.core.auth import Principal, PrincipalKind
    from commbase.core.db import Database
    from commbase.core.http import ClientInfo
    from commbase.core.ratelimit import RateLimitRule
    from commbase.core.scopes import Scope
    from commbase.identity import service
    from commbase.identity.api_keys import service as api_keys
    from commbase.identity.api_keys.schemas import ApiKeyCreate
    from commbase.identity.roles import scopes_for

    if environment not in ("live", "test"):
        raise fail(f"--environment is live or test, not {environment!r}")
    chosen: list[Scope] | None = None
    if scopes is not None:
        names = [part.strip() for part in scopes.split(",") if part.strip()]
        unknown = [part for part in names if part not in Scope._value2member_map_]
        if unknown or not names:
            raise fail(
                f"unknown scope(s): {', '.join(unknown) or '(none given)'}; "
                f"scopes are {', '.join(s.value for s in Scope)}"
            )
        chosen = [Scope(part) for part in names]
    try:
        data = ApiKeyCreate(
            name=name, environment="test" if environment == "test" else "live", scopes=chosen
        )
    except ValidationError as exc:
        raise fail(_field_messages(exc)) from exc
    settings = get_settings()

    async def create() -> str:
        database = Database(settings.database_url)
        try:
            async with database.sessionmaker() as session:
                org = await service.find_organization(session, slug_or_id=organization)
                if org is None:
                    raise fail(f"no organization {organization!r}", code=REFUSED)
                user = await service.find_user_by_email(session, email=email)
                if user is None:
                    raise fail(f"no user with the email {email!r}", code=REFUSED)
                member = await service.get_membership(session, org_id=org.id, user_id=user.id)
                if member is None:
                    raise fail(f"{email} is not a member of {organization}", code=REFUSED)
                actor = Principal(
                    kind=PrincipalKind.USER_SESSION,
                    org_id=org.id,
                    credential_id="cli",
                    scopes=scopes_for(member.role),
                    rate_limit=RateLimitRule("cli", 1, 1),
                    user_id=user.id,
                    role=member.role,
                )
                _, secret = await api_keys.create_key(
                    session,
                    data=data,
                    actor=actor,
                    client=ClientInfo(None, None, None, "commbase-cli"),
                    secret=settings.secret_key.get_secret_value(),
                    tiers=settings.rate_limit_tiers,
                )
                await session.commit()
                return secret
        finally:
            await database.dispose()

    console.print(_run(create()))


@jobs_app.command("list")
def jobs_list() -> None:
    """List scheduled jobs with their latest run."""
    from commbase import app as _app  # noqa: F401  (registers every domain's jobs)
    from commbase import models as _models  # noqa: F401
    from commbase.core import jobs
    from commbase.core.db import Database

    settings = get_settings()

    async def load() -> dict[str, jobs.JobRun]:
        database = Database(settings.database_url)
        try:
            async with database.sessionmaker() as session:
                return await jobs.last_runs(session)
        finally:
            await database.dispose()

    latest = _run(load())
    # In a narrow terminal, wrap rather than cut: the name is what `jobs run` takes.
    table = Table(
        Column("job", no_wrap=True),
        Column("schedule", no_wrap=True),
        Column("per org", no_wrap=True),
        Column("last run", overflow="fold"),
        Column("status", no_wrap=True),
        "rows",
    )
    for job_ in jobs.registered_jobs().values():
        run = latest.get(job_.name)
        table.add_row(
            job_.name,
            job_.schedule,
            "yes" if job_.per_organization else "no",
            run.started_at.isoformat(timespec="seconds") if run else "-",
            run.status if run else "-",
            str(run.rows) if run and run.rows is not None else "-",
        )
    console.print(table)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name, see `commbase jobs list`")],
    organization: Annotated[
        str | None,
        typer.Option(help="Only this organization (slug or id), for jobs that can run for one"),
    ] = None,
) -> None:
    """Run one job now (for every organization, or one) and record the run."""
    from commbase import app as _app  # noqa: F401  (registers every domain's jobs)
    from commbase.core import jobs
    from commbase.core.db import Database
    from commbase.identity import service

    settings = get_settings()
    try:
        job_ = jobs.get_job(name)
    except CommbaseError as exc:
        raise fail(exc.detail) from exc
    if organization is not None and not job_.per_organization:
        raise fail(f"{name} runs for every organization at once; leave out --organization")

    async def run() -> jobs.JobRun:
        database = Database(settings.database_url)
        try:
            org_id = None
            if organization is not None:
                async with database.sessionmaker() as session:
                    org = await service.find_organization(session, slug_or_id=organization)
                if org is None:
                    raise fail(f"no organization {organization!r}", code=REFUSED)
                org_id = org.id
            return await jobs.run_job(database, job_, trigger="manual", org_id=org_id)
        finally:
            await database.dispose()

    result = _run(run())
    colour = "green" if result.status == "succeeded" else "red"
    console.print(f"[{colour}]{result.job_name}: {result.status}[/{colour}] rows={result.rows}")
    if result.error:
        console.print(result.error)
        raise typer.Exit(1)


@app.command()
def backfill(
    from_: Annotated[str, typer.Option("--from", help="First local date, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="Last local date, YYYY-MM-DD (included)")],
    type_: Annotated[
        str, typer.Option("--type", help="hourly, daily, weekly, monthly or yearly")
    ] = "daily",
    org: Annotated[
        list[str] | None, typer.Option(help="Only these organization ids (repeatable)")
    ] = None,
) -> None:
    """Rebuild analytics snapshots for a range of dates, with a progress bar."""
    from datetime import date

    from rich.progress import Progress

    from commbase import models as _models  # noqa: F401
    from commbase.analytics import snapshots
    from commbase.core.db import Database

    if type_ not in snapshots.SCHEDULES:
        console.print(f"[red]--type is one of {', '.join(snapshots.SCHEDULES)}[/red]")
        raise typer.Exit(2)
    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        console.print(f"[red]dates are YYYY-MM-DD: {exc}[/red]")
        raise typer.Exit(2) from exc
    if last < first:
        console.print("[red]--to is before --from[/red]")
        raise typer.Exit(2)
    settings = get_settings()

    async def work(progress: Progress) -> int:
        task = progress.add_task(f"{type_} snapshots", total=None)

        def advance(*, total: int | None = None, advance: int = 0) -> None:
            if total is not None:
                progress.update(task, total=total)
            if advance:
                progress.advance(task, advance)

        database = Database(settings.database_url)
        try:
            return await snapshots.backfill(
                database.sessionmaker, type_, first, last, org_ids=org, progress=advance
            )
        finally:
            await database.dispose()

    with Progress(console=console) as progress:
        written = _run(work(progress))
    console.print(f"[green]{written} snapshots written[/green]")


@webhooks_app.command("worker")
def webhooks_worker(
    until_idle: Annotated[
        bool, typer.Option(help="Stop once a round finds nothing to do (for batch runs)")
    ] = False,
    worker_id: Annotated[str | None, typer.Option(help="Name in claims and attempt logs")] = None,
) -> None:
    """Deliver webhooks: run beside the API processes, as many as you like."""
    from commbase import models as _models  # noqa: F401
    from commbase.core.db import Database
    from commbase.webhooks.dispatcher import Dispatcher

    settings = get_settings()

    async def work() -> int:
        database = Database(settings.database_url)
        dispatcher = Dispatcher(database, settings, worker_id=worker_id)
        total = 0
        try:
            if not until_idle:
                await dispatcher.run_forever()
                return total
            while True:
                done = await dispatcher.run_once()
                total += done
                if not done:
                    return total
        finally:
            await dispatcher.close()
            await database.dispose()

    console.print(f"webhooks worker finished: {_run(work())} deliveries and fan-outs")


@effects_app.command("worker")
def effects_worker(
    until_idle: Annotated[
        bool, typer.Option(help="Stop once a round finds nothing to do (for batch runs)")
    ] = False,
    worker_id: Annotated[str | None, typer.Option(help="Name in the outbox's claims")] = None,
) -> None:
    """Run effects after commit (dial queued calls, charge recharges, send refunds):
    needed beside API processes that run with COMMBASE_RUN_JOBS=false. Any number may
    run; each event is claimed by one."""
    from commbase import app as _app  # noqa: F401  (registers every effect handler)
    from commbase.core.db import Database
    from commbase.core.effects import EffectRunner
    from commbase.core.jobs import worker_name

    settings = get_settings()

    async def work() -> int:
        database = Database(settings.database_url)
        runner = EffectRunner(
            database, services={"settings": settings}, worker_id=worker_id or worker_name()
        )
        total = 0
        try:
            if not until_idle:
                await runner.run_forever()
                return total
            while done := await runner.run_once():
                total += done
            return total
        finally:
            await database.dispose()

    console.print(f"effects worker finished: {_run(work())} events handled")


if __name__ == "__main__":
    app()
