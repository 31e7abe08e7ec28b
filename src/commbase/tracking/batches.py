"""Reading a batch of telemetry events: its items, parsed and validated.

A batch holds up to ``track_max_batch`` events and is read for throughput: its
body is parsed once by orjson and the list validated by pydantic in one call into
plain dicts (``TrackEventItem``), which costs about half of validating the bytes
into models; only when that fails are the failing items read from the error and
the rest validated again, together. Storing what is valid is ``events.py``'s part.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from commbase.core.errors import (
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from commbase.core.schemas import _check_storable
from commbase.tracking.schemas import RejectedEvent, TrackEventItem
from commbase.tracking.screening import screen

JSON_TYPES = ("application/json", "")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
_EVENTS = TypeAdapter(list[TrackEventItem])

# An integer literal orjson may read as a float: beyond 64 bits needs 19 digits or more.
# Found by mapping every digit to "0" and searching for 19 of them: a tenth of a regex's time.
_DIGITS_AS_ZERO = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER = b"0" * 19
ORJSON_MAX_DEPTH = 1024


def has_long_number(text: bytes) -> bool:
    """``text`` holds 19 digits in a row: maybe an integer beyond 64 bits."""
    return _LONG_NUMBER in text.translate(_DIGITS_AS_ZERO)


def _loads(text: bytes) -> Any:
    """JSON text as orjson reads it, except that integers beyond 64 bits stay integers
    (orjson makes them floats, which would store a number nobody sent); ingest then
    refuses them item by item. Raises ``orjson.JSONDecodeError``."""
    value = orjson.loads(text)
    if not has_long_number(text):
        return value
    try:
        return json.loads(text)  # valid JSON already: no NaN, no lone surrogates
    except RecursionError:
        pass
    # orjson read it, so it nests at most 1024 levels: room for that, for this parse.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + ORJSON_MAX_DEPTH + 100)
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(limit)


def read_batch(
    body: bytes, *, content_type: str, max_events: int
) -> tuple[list[tuple[int, TrackEventItem]], list[RejectedEvent]]:
    """The batch's valid events with their positions, and each invalid one with its
    reasons; 400/413/415/422 problems for a body that is no batch."""
    items = parse_batch(body, content_type=content_type, max_events=max_events)
    return validate_batch(items, check_nul=b"\\u0000" in body)


def parse_batch(body: bytes, *, content_type: str, max_events: int) -> list[Any]:
    """The batch's items, unvalidated; 400/413/415/422 problems for a body that is no batch."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) > max_events:
            raise _too_many(len(lines), max_events)
        items = []
        for number, line in enumerate(lines, start=1):
            try:
                items.append(_loads(line))
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"Line {number} is not valid JSON: {exc}") from exc
        return items
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(
            "Send a JSON array (application/json) or one event per line (application/x-ndjson)"
        )
    try:
        items = _loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise ValidationFailed(
            "The body must be a JSON array of events",
            errors=[{"loc": ["body"], "field": "", "message": "expected an array of events"}],
        )
    if len(items) > max_events:
        raise _too_many(len(items), max_events)
    return items


def _too_many(count: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"A batch holds at most {limit} events; this one has {count}")


def field_error(loc: list[Any], message: str, kind: str = "value_error") -> dict[str, Any]:
    """One error of a rejected event, as the problem's ``errors`` list them."""
    parts = [str(part) for part in loc]
    return {"loc": parts, "field": ".".join(parts), "message": message, "type": kind}


def _client_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None


def validate_batch(
    items: list[Any], *, check_nul: bool
) -> tuple[list[tuple[int, TrackEventItem]], list[RejectedEvent]]:
    """The valid events with their positions, and each invalid one with its reasons.

    A batch whose items are all plainly valid is taken as ``screening`` reads it.
    Otherwise the whole list is validated by pydantic in one call; only when that fails
    are the failing positions read from the error and the rest validated again, together.
    """
    if not check_nul:  # the common batch: every item plainly valid (``screening``)
        screened = screen(items)
        if screened is not None:
            return list(enumerate(screened)), []
    rejected: dict[int, list[dict[str, Any]]] = {
        index: [field_error([], "an event must be a JSON object", "dict_type")]
        for index, item in enumerate(items)
        if not isinstance(item, dict)
    }
    if check_nul:  # only when the body holds an escaped NUL somewhere
        for index, item in enumerate(items):
            if index in rejected:
                continue
            try:
                _check_storable(item)
            except ValueError as exc:
                rejected[index] = [field_error([], str(exc))]
    remaining = [i for i in range(len(items)) if i not in rejected]
    valid: list[tuple[int, TrackEventItem]] = []
    while remaining:
        try:
            events = _EVENTS.validate_python(
                items if len(remaining) == len(items) else [items[i] for i in remaining]
            )
        except ValidationError as exc:
            bad: set[int] = set()
            for err in exc.errors(include_url=False, include_input=False):
                position = remaining[int(err["loc"][0])]
                bad.add(position)
                rejected.setdefault(position, []).append(
                    field_error(list(err["loc"][1:]), err["msg"], err["type"])
                )
            remaining = [i for i in remaining if i not in bad]
            continue
        valid = list(zip(remaining, events, strict=True))
        break
    return valid, [
        RejectedEvent(index=index, id=_client_id(items[index]), errors=errors)
        for index, errors in sorted(rejected.items())
    ]
