"""The range a dashboard page asks the API for: a range reaching the present ends at
the next whole minute (every fact so far inside it; the same range, so the same
analytics cache entry, for every request within that minute)."""

from __future__ import annotations

from datetime import UTC, datetime

from commbase.web.filters import Filters


def _filters(query: dict[str, str]) -> Filters:
    return Filters.parse(query, default_tz="Asia/Kolkata")


def test_a_range_reaching_now_ends_at_the_next_whole_minute() -> None:
    now = datetime(2026, 3, 10, 18, 29, 17, 250_000, tzinfo=UTC)  # 23:59:17 in Kolkata
    start, end = _filters({"range": "7d"}).span(now)
    assert end == datetime(2026, 3, 10, 18, 30, tzinfo=UTC)  # local midnight of the 11th
    assert start.isoformat() == "2026-03-04T00:00:00+05:30"  # seven local days, today's too
    later = datetime(2026, 3, 10, 18, 29, 59, 999_999, tzinfo=UTC)
    assert _filters({"range": "7d"}).api_query(later) == _filters({"range": "7d"}).api_query(now)


def test_a_whole_minute_is_its_own_end_and_custom_ranges_are_whole_days() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert _filters({"range": "today"}).span(now)[1] == now
    assert _filters({"range": "month"}).span(now)[0].isoformat() == "2026-03-01T00:00:00+05:30"
    custom = _filters({"range": "custom", "from": "2026-01-01", "to": "2026-01-31"})
    assert [t.isoformat() for t in custom.span(now)] == [
        "2026-01-01T00:00:00+05:30",
        "2026-02-01T00:00:00+05:30",
    ]
