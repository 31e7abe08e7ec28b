"""Long-running processes: ``commbase serve`` (the API), ``commbase worker`` (every
background loop) and the single-purpose workers that run beside it,
``commbase webhooks worker`` and ``commbase effects worker``."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Annotated

import typer

from commbase.cli.console import console, run_command
from commbase.settings import get_settings

webhooks_app = typer.Typer(help="Webhook delivery.", no_args_is_help=True)
effects_app = typer.Typer(
    help="Effects after commit: dialing, card charges, refunds.", no_args_is_help=True
)


def ws_max_size() -> int:
    """The largest WebSocket message uvicorn buffers: the largest frame any of commbase's
    sockets accepts. Each socket checks its own limit, but only after uvicorn has read the
    whole message (16 MiB by default); past this, uvicorn closes with 1009 first.

    The limits (bytes): video signalling 65,536 (calls.video.protocol), live-call agent
    frames 8,192 (calls.live.protocol), carrier relay frames 65,536 (calls.live.relay)
    and media-stream frames 65,536 (calls.live.media_stream; a 20 ms audio frame is a few
    hundred bytes of base64 in JSON)."""
    from commbase.calls.live import media_stream, relay
    from commbase.calls.live import protocol as live_protocol
    from commbase.calls.video import protocol as video_protocol

    return max(
        video_protocol.MAX_FRAME_BYTES,
        live_protocol.MAX_FRAME_BYTES,
        relay.MAX_CARRIER_FRAME_BYTES,
        media_stream.MAX_STREAM_FRAME_BYTES,
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
        "commbase.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=False,  # commbase reads X-Forwarded-For from trusted proxies itself
        ws_max_size=ws_max_size(),  # 64 KiB: refused while reading, not after buffering
        access_log=False,
        log_config=None,
    )


def worker() -> None:
    """Run the background loops: jobs, call simulator, webhooks, effects.

    Everything an API process runs with COMMBASE_RUN_JOBS=true: the scheduler (one
    leader at a time), the call simulator, webhook delivery and effects after commit.
    Run API processes with COMMBASE_RUN_JOBS=false and any number of these beside
    them. SIGTERM or Ctrl-C stops one cleanly (its loops finish their round, usage
    counts are written); Ctrl-C twice stops it at once."""
    from commbase.app import create_app

    # The API's own start-up and shutdown, so both layouts run the same loops and
    # flush the same state (usage counts) when they stop.
    settings = get_settings().model_copy(update={"run_jobs": True})

    async def work() -> None:
        app = create_app(settings)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stop(signum: signal.Signals) -> None:
            if stopping.is_set() and signum == signal.SIGINT:
                # Ctrl-C twice: leave now; what this worker had claimed is taken up
                # by another once its lease expires.
                os._exit(130)
            stopping.set()  # a repeated SIGTERM changes nothing: the loops are stopping

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        try:
            async with app.router.lifespan_context(app):
                console.print("worker running: scheduler, call simulator, webhooks, effects")
                await stopping.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    run_command(work())
    console.print("worker stopped")


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
