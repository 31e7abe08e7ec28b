"""A process that runs only the campaign runner:
``python -m commbase.messaging.campaigns.worker`` (settings from ``COMMBASE_*``).

``commbase worker`` runs the campaign runner beside every other background loop;
this one is for sending a large campaign on machines of its own. SIGTERM or
Ctrl-C stops it after the batch in hand; a batch cut short by a kill is taken over
by another runner once its lease runs out.
"""

from __future__ import annotations

import asyncio
import signal

# Every table, and every outbox consumer (webhooks fan-out, effects): the events
# sending records get their deliveries only for consumers registered in this process.
from commbase import app as _app  # noqa: F401
from commbase.core.db import Database
from commbase.core.logging import configure_logging
from commbase.messaging.campaigns.runner import CampaignRunner
from commbase.messaging.campaigns.sending import provider_sender
from commbase.settings import get_settings


async def work() -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    database = Database(settings.database_url)
    runner = CampaignRunner(
        database, provider_sender(server_secret=settings.secret_key.get_secret_value())
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, runner.stop)
    try:
        await runner.run_forever(idle_s=0.05)
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(work())
