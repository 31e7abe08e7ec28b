"""``commbase jobs`` and ``commbase backfill``: list and run scheduled jobs, rebuild
analytics snapshots for past dates."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from commbase.cli.console import REFUSED, console, fail, run_command
from commbase.core.errors import CommbaseError
from commbase.settings import get_settings

jobs_app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)


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

    latest = run_command(load())
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

    result = run_command(run())
    colour = "green" if result.status == "succeeded" else "red"
    console.print(f"[{colour}]{result.job_name}: {result.status}[/{colour}] rows={result.rows}")
    if result.error:
        console.print(result.error)
        raise typer.Exit(1)


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
        written = run_command(work(progress))
    console.print(f"[green]{written} snapshots written[/green]")
