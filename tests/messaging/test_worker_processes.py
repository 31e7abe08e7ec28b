"""The processes that only file notifications or only send campaigns hand the events
they record to every consumer (webhooks fan-out, effects), as ``commbase worker`` does:
an event gets a delivery only for the consumers registered in the process recording it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from commbase import app as _app  # noqa: F401  (every consumer, as the API process has)
from commbase.core import outbox


@pytest.mark.parametrize(
    "module", ["commbase.messaging.filer", "commbase.messaging.campaigns.worker"]
)
def test_a_single_loop_process_queues_events_for_every_consumer(module: str) -> None:
    code = (
        f"import {module}\n"
        "from commbase.core import outbox\n"
        "print(' '.join(sorted(outbox.consumers())))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "webhooks" in result.stdout.split()
    assert set(result.stdout.split()) == set(outbox.consumers())
