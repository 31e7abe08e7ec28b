"""Long-running processes: ``commbase serve`` (the API) and the workers that run beside
it, ``commbase webhooks worker`` and ``commbase effects worker``."""

from __future__ import annotations

from typing import Annotated

import typer

from commbase.cli.console import console, run_command
from commbase.settings import get_settings

webhooks_app = typer.Typer(help="Webhook delivery.", no_args_is_help=True)
effects_app = typer.Typer(
    help="Effects after commit: dialing, card charges, refunds.", no_args_is_help=True
)


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

    console.print(f"webhooks worker finished: {run_command(work())} deliveries and fan-outs")


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

    console.print(f"effects worker finished: {run_command(work())} events handled")
