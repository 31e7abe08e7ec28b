"""The filters every dashboard page holds in its URL: range, time zone, interval,
channel account and comparison, turned into the ``/v1/analytics`` query they mean."""

from __future__ import annotations

import re
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
MAX_DAYS = 3660  # the API's longest range (ten years)
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)
MAX_ACCOUNT = 64
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
YES_NO = {"1": True, "true": True, "0": False, "false": False}


class FilterError(ValueError):
    """A filter in the URL that means nothing: the page answers 400 saying which."""


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
        """Filters from a URL's query (an empty value is the default); a value that
        means nothing raises :class:`FilterError` naming it, never a guess."""
        preset = query.get("range") or "30d"
        if preset not in RANGES:
            raise FilterError(f"Unknown range {preset[:40]!r}: use one of {', '.join(RANGES)}.")
        tz = query.get("tz") or default_tz
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise FilterError(f"Unknown time zone {tz[:64]!r}: use an IANA name.") from exc
        start, end = _date(query, "from"), _date(query, "to")
        if preset == "custom":
            if start is None or end is None:
                raise FilterError("A custom range needs both from and to (YYYY-MM-DD).")
            if end < start:
                raise FilterError("The custom range ends (to) before it starts (from).")
            if (end - start).days + 1 > MAX_DAYS:
                raise FilterError(f"A custom range spans at most {MAX_DAYS} days.")
        account = (query.get("account") or "").strip() or None
        if account is not None and len(account) > MAX_ACCOUNT:
            raise FilterError(f"A channel account id has at most {MAX_ACCOUNT} characters.")
        compare = YES_NO.get(query.get("compare") or "1")
        if compare is None:
            raise FilterError("compare is 1 or 0.")
        filters = cls(
            range=preset,
            tz=tz,
            interval=Interval.HOUR if preset == "today" else Interval.DAY,
            account=account,
            compare=compare,
            start_date=start if preset == "custom" else None,
            end_date=end if preset == "custom" else None,
        )
        wanted = query.get("interval")
        if wanted:
            if wanted not in {i.value for i in Interval}:
                raise FilterError(
                    f"Unknown interval {wanted[:40]!r}: use {', '.join(i.value for i in Interval)}."
                )
            filters = replace(filters, interval=Interval(wanted))
        if filters.interval == Interval.HOUR and filters.days > MAX_HOURLY_DAYS:
            # The form keeps "hour" when the range grows past a week: days then.
            filters = replace(filters, interval=Interval.DAY)
        return filters

    def span(self, now: datetime) -> tuple[datetime, datetime]:
        """[from, to) in the filter's time zone. A range reaching the present ends at the
        next whole minute: every fact so far is in it, and requests within one minute
        ask the same range, so the analytics cache (keyed by the range and the data's
        version) answers them while the facts do not change."""
        zone = ZoneInfo(self.tz)
        local_now = _next_minute(now).astimezone(zone)
        today = now.astimezone(zone).date()
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


def _date(query: dict[str, str], name: str) -> date | None:
    """A calendar date (YYYY-MM-DD) in the page's time zone; a date-time, naive or
    not, is refused: the range is whole days where the page's zone cuts them."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        parsed = date.fromisoformat(raw)
    except ValueError as exc:
        raise FilterError(f"{name} is a date (YYYY-MM-DD), not {raw[:40]!r}.") from exc
    if not EARLIEST <= parsed < LATEST:
        raise FilterError(f"{name} lies between {EARLIEST} and {LATEST}.")
    return parsed


def _next_minute(moment: datetime) -> datetime:
    """The first whole minute after ``moment`` (``moment`` itself when it is one)."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)
