"""The one place commbase reads the time from, so tests and demos can move it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock in timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


_clock: Clock = Clock()


def utcnow() -> datetime:
    """Return the current time (UTC, aware) from the installed clock."""
    return _clock.now()


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Install ``clock`` for the duration of the block."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous


def aware_iso(value: datetime) -> str:
    """``value`` as ISO 8601 text with its offset, for a JSON document PostgreSQL reads
    into a ``timestamptz``; a naive time is refused, as ``core.db.UTCDateTime`` refuses
    it (PostgreSQL would read it in the session's zone)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use commbase.core.time.utcnow()")
    return value.isoformat()
