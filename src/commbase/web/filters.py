"""The filters every dashboard page holds in its URL: range, time zone, interval,
channel account and comparison, turned into the ``/v1/analytics`` query they mean."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commbase.analytics.enums import Interval

RANGES: dict[str, str] = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
    "custom": "Custom",
}
RANGE_DAYS = {"7d": 7, "30d": 30, "90d": 90}
# Hours over a long range would exceed what one series answers; days are the default.
MAX_HOURLY_DAYS = 7
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)


@dataclass(frozen=True, slots=True)
class Filters:
    """What the page shows: the range (a preset or custom dates), the time zone its
    days are cut in, the interval of its points, one channel account or all, and
    whether to compare with the period before."""

    range: str
    tz: str
    interval: Interval
    account: str | None
    compare: bool
    start_date: date | None = None  # custom ranges: first and last day, inclusive
    end_date: date | None = None

    @classmethod
    def parse(cls, query: dict[str, str], *, default_tz: str) -> Filters:
        """Filters from a URL's query; anything unusable falls back to its default."""
        chosen = query.get("range", "30d")
        preset = chosen if chosen in RANGES else "30d"
        tz = query.get("tz") or default_tz
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            tz = default_tz
        start = _date(query.get("from"))
        end = _date(query.get("to"))
        if preset == "custom" and (start is None or end is None or end < start):
            preset = "30d"
        account = (query.get("account") or "").strip()[:64] or None
        filters = cls(
            range=preset,
            tz=tz,
            interval=Interval.DAY,
            account=account,
            compare=query.get("compare", "1") != "0",
            start_date=start if preset == "custom" else None,
            end_date=end if preset == "custom" else None,
        )
        wanted = query.get("interval")
        interval = (
            Interval(wanted)
            if wanted in {i.value for i in Interval}
            else (Interval.HOUR if preset == "today" else Interval.DAY)
        )
        if interval == Interval.HOUR and filters.days > MAX_HOURLY_DAYS:
            interval = Interval.DAY
        return replace(filters, interval=interval)

    def span(self, now: datetime) -> tuple[datetime, datetime]:
        """[from, to) in the filter's time zone."""
        zone = ZoneInfo(self.tz)
        local_now = now.astimezone(zone)
        today = local_now.date()
        if self.range == "custom" and self.start_date and self.end_date:
            return _midnight(self.start_date, zone), _midnight(
                self.end_date + timedelta(days=1), zone
            )
        if self.range == "month":
            return _midnight(today.replace(day=1), zone), local_now
        first = today - timedelta(days=RANGE_DAYS.get(self.range, 1) - 1)
        return _midnight(first, zone), local_now

    @property
    def days(self) -> int:
        if self.range == "custom" and self.start_date and self.end_date:
            return (self.end_date - self.start_date).days + 1
        return RANGE_DAYS.get(self.range, 31 if self.range == "month" else 1)

    def api_query(self, now: datetime) -> dict[str, str]:
        """The ``/v1/analytics/series`` parameters these filters stand for."""
        start, end = self.span(now)
        params = {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "tz": self.tz,
            "interval": self.interval.value,
        }
        if self.account:
            params["account_id"] = self.account
        return params

    def url_query(self, **changes: str | None) -> str:
        """This page's query string, with ``changes`` applied (for links and forms)."""
        values: dict[str, str | None] = {
            "range": self.range,
            "tz": self.tz,
            "interval": self.interval.value,
            "account": self.account,
            "compare": "1" if self.compare else "0",
            "from": self.start_date.isoformat() if self.start_date else None,
            "to": self.end_date.isoformat() if self.end_date else None,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})


def _date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        parsed = date.fromisoformat(raw[:10])
    except ValueError:
        return None
    return parsed if EARLIEST <= parsed < LATEST else None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)
