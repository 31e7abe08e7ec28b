"""A frozen clock for privacy tests: retention is about time passing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from commbase.core.time import FrozenClock, use_clock


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen
