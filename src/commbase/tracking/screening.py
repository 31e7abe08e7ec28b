"""A batch of plainly valid events, accepted without pydantic; anything else goes to it.

Validating a 1,000-event batch with pydantic (``batches._EVENTS``) cost ingest about
a sixth of its time. Batches from SDKs are regular: ids and types of a few safe
characters, references without surrounding spaces, RFC 3339 times. ``screen``
checks a whole batch field by field -- one regular expression over all ids joined,
C-level ``map`` over all references -- and returns its items as ``TrackEventItem``
would (the times as aware datetimes) only when every item passes every check. An
item the screen does not plainly accept is not refused here: the whole batch is
then validated by pydantic as before, which alone writes error messages, strips
whitespace (``str_strip_whitespace``) and reads the other time formats. So the
screen accepts a subset of what pydantic accepts, with the same values.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from itertools import chain, compress, repeat
from operator import add, is_not
from typing import Any, Final, cast

from commbase.core.schemas import MAX_JSON_DEPTH
from commbase.tracking.schemas import TrackEventItem

FIELDS: Final = frozenset(TrackEventItem.__annotations__)
REFERENCES: Final = ("user_id", "session_id", "call_id", "visitor_id", "account_id")
TIMES: Final = ("timestamp", "expires_at")
# The items' values joined by a newline, which none of these formats allows.
_NAMES = re.compile(r"(?:[A-Za-z0-9_.:-]{1,100}\n)*[A-Za-z0-9_.:-]{1,100}")
_CLIENT_IDS = re.compile(r"(?:[A-Za-z0-9_.:-]{1,64}\n)*[A-Za-z0-9_.:-]{1,64}")
_IP_ADDRESSES = re.compile(r"(?:[0-9A-Fa-f:.]{1,45}\n)*[0-9A-Fa-f:.]{1,45}")
# A subset of the times pydantic reads, each of which datetime.fromisoformat reads alike.
_TIME = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"  # fromisoformat reads +05:60 as +06:00
)
_TIMES = re.compile(rf"(?:{_TIME}\n)*{_TIME}")
_SHORT: Final = 2 * MAX_JSON_DEPTH  # no JSON text this short nests deeper
METADATA_LIMITS: Final = (("user_agent", 1024), ("sdk_version", 50))
_ABSENT: Final = object()
_EMPTY: dict[str, Any] = {}  # read only: what an absent document is checked as

# The loops run in C (map, filter, str.join, re): a Python loop per item and field
# would cost as much as pydantic. A value of the wrong type raises TypeError in them.


def _values(items: list[dict[str, Any]], field: str) -> list[Any]:
    """The field's value in each item; None where it is absent or null."""
    return list(map(dict.get, items, repeat(field)))


def _given(items: list[dict[str, Any]], field: str) -> list[Any]:
    """The field's value in each item that has it (null included)."""
    values = map(dict.get, items, repeat(field), repeat(_ABSENT))
    return list(filter(partial(is_not, _ABSENT), values))


def _set(values: list[Any]) -> list[Any]:
    return list(filter(partial(is_not, None), values))


def _joined(pattern: re.Pattern[str], values: list[Any]) -> bool:
    """Every value is a string matching ``pattern``'s element, which holds no newline."""
    if not values:
        return True
    joined = "\n".join(values)
    return joined.count("\n") == len(values) - 1 and pattern.fullmatch(joined) is not None


def names_pass(types: list[Any], ids: list[Any]) -> bool:
    """Every type is a name and every id given (not None) a client id: strings of the
    safe characters, 1 to 100 and 1 to 64 long."""
    return _joined(_NAMES, types) and _joined(_CLIENT_IDS, _set(ids))


def times_pass(texts: list[str]) -> bool:
    """Every text is a time of the plain RFC 3339 subset ``datetime.fromisoformat``
    reads as pydantic does."""
    return _joined(_TIMES, texts)


def unpadded(values: list[str]) -> bool:
    """No string of ``values`` has whitespace around it (pydantic would strip it).
    ``str.strip`` strips a few characters pydantic keeps (``\\x1c``-``\\x1f``): such a
    string is left to pydantic too."""
    return list(map(str.strip, values)) == values


def _references_pass(items: list[dict[str, Any]]) -> bool:
    for field in REFERENCES:
        values = _set(_values(items, field))
        # Strings of 1 to 64 characters, none that pydantic would strip.
        if values and (
            not unpadded(values) or min(map(len, values)) < 1 or max(map(len, values)) > 64
        ):
            return False
    return True


def _documents_pass(items: list[dict[str, Any]]) -> bool:
    data = list(map(dict.get, items, repeat("data"), repeat(_EMPTY)))  # null is refused
    metadata = list(map(dict.get, items, repeat("metadata"), repeat(_EMPTY)))
    if set(map(type, data)) | set(map(type, metadata)) != {dict}:
        return False
    if not unpadded(list(chain.from_iterable(data))):  # pydantic strips data's keys too
        return False
    # Metadata's own fields may be absent, not null.
    if not _joined(_IP_ADDRESSES, _given(metadata, "ip_address")):
        return False
    for field, limit in METADATA_LIMITS:
        values = _given(metadata, field)
        if values and (set(map(type, values)) != {str} or max(map(len, values)) > limit):
            return False
    return True


def shallow(texts: list[str]) -> bool:
    """No JSON text of ``texts`` nests deeper than ``MAX_JSON_DEPTH``: that takes more
    brackets than a text of twice as many characters holds, so only longer ones are
    counted, and one holding more brackets than that is not called shallow."""
    long = [text for text in texts if len(text) > _SHORT]
    if not long:
        return True
    brackets = map(add, map(str.count, long, repeat("{")), map(str.count, long, repeat("[")))
    return bool(max(brackets) <= MAX_JSON_DEPTH)


def _read_times(items: list[dict[str, Any]]) -> list[tuple[list[Any], list[datetime]]] | None:
    """For each time field, the items that hold it and its values as datetimes; None
    unless all are plain RFC 3339 text that ``datetime.fromisoformat`` reads."""
    found = []
    for field in TIMES:
        values = _values(items, field)
        present = list(compress(items, map(is_not, values, repeat(None))))
        text = _set(values)
        if not times_pass(text):
            return None
        try:
            found.append((present, list(map(datetime.fromisoformat, text))))
        except ValueError:  # a day, hour or offset out of range: pydantic words it
            return None
    return found


def screen(items: list[Any]) -> list[TrackEventItem] | None:
    """``items`` as ``TrackEventItem`` validates them when each is plainly valid (the
    times as aware datetimes, set in the items themselves); None when pydantic must
    judge the batch. Items with NUL are the caller's."""
    if not items or set(map(type, items)) != {dict} or not all(map(FIELDS.issuperset, items)):
        return None
    events = cast(list[dict[str, Any]], items)
    try:
        if not (
            names_pass(_values(events, "type"), _values(events, "id"))
            and _references_pass(events)
            and _documents_pass(events)
        ):
            return None
        times = _read_times(events)
    except TypeError:  # a value of another type than pydantic's: pydantic words it
        return None
    if times is None:
        return None
    for (present, values), field in zip(times, TIMES, strict=True):
        for _ in map(dict.__setitem__, present, repeat(field), values):
            pass
    return cast(list[TrackEventItem], events)
