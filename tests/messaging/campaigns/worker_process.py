"""A campaign runner in a process of its own, for the crash test.

``python -m tests.messaging.campaigns.worker_process DATABASE_URL WORKER_ID LOG_PATH``
runs a ``CampaignRunner`` (2 s leases renewed every 0.5 s) whose sender is the real
simulator sender, slowed by 0.3 s per batch so a kill lands mid-batch, and which
appends every message id it hands to the provider to LOG_PATH.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from commbase import models as _models  # noqa: F401  (registers every table)
from commbase.core.db import Database
from commbase.messaging.campaigns.outbound import Batch, SendOutcome
from commbase.messaging.campaigns.runner import CampaignRunner
from commbase.messaging.campaigns.sending import provider_sender

SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


async def main(url: str, worker_id: str, log_path: str) -> None:
    database = Database(url)
    real = provider_sender(server_secret=SECRET)

    async def send(batch: Batch) -> list[SendOutcome]:
        with Path(log_path).open("a") as log:  # noqa: ASYNC230  (a test's small log)
            log.write("".join(f"{item.message_id}\n" for item in batch.outgoing))
        await asyncio.sleep(0.3)
        return await real(batch)

    runner = CampaignRunner(database, send, worker_id=worker_id, renew_every_s=0.5, lease_s=2)
    print("ready", flush=True)
    await runner.run_forever(idle_s=0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
