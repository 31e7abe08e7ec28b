"""A process that only files WhatsApp notifications:
``python -m commbase.messaging.filer`` (settings from ``COMMBASE_*``).

``commbase worker`` files notifications beside every other background loop (the
scheduler, both simulators, webhook fan-out and delivery, effects, campaigns),
which poll and take their CPU share too; this one runs only
:class:`~commbase.messaging.intake.IntakeRunner`, for a busy inbound line. Run as
many as you like (batches are claimed with ``FOR UPDATE SKIP LOCKED``); the outbox
events filing records are handed on by the ``commbase worker`` processes. SIGTERM
or Ctrl-C stops it after the batch in hand; a batch cut short by a kill is rolled
back and filed by another.
"""

from __future__ import annotations

import asyncio
import signal

# Every table, and every outbox consumer (webhooks fan-out, effects): the events
# filing records get their deliveries only for consumers registered in this process.
from commbase import app as _app  # noqa: F401
from commbase.core.db import Database
from commbase.core.logging import configure_logging
from commbase.messaging.intake import IntakeRunner
from commbase.settings import get_settings


async def work() -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    database = Database(settings.database_url)
    runner = IntakeRunner(database, idle_s=0.05)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, runner.stop)
    try:
        await runner.run_forever()
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(work())
