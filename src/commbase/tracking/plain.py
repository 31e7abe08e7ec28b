"""A plain JSON batch read by msgspec straight into rows; any other goes the long way.

Ingest's long way (``batches``, ``screening``, ``events._plain_rows``) parses the body
with orjson into dicts, screens them field by field, then writes each event's
``data`` and ``metadata`` back to JSON text for the COPY: about 5 ms of a 1,000-event
batch's CPU, a third of what the API process spends on it. Here msgspec decodes the
body into structs (``_Event``) and keeps ``data`` and ``metadata`` as the JSON text
the client sent (``msgspec.Raw``, whose syntax msgspec checks): nothing is built for
them and nothing written again. The fields are held to the screen's rules
(``screening``: names, ids, references, RFC 3339 times) with one regular expression
per field over the whole batch -- a pattern per value, checked by msgspec, cost twice
the decode -- and the documents to ingest's: the top-level keys of ``data`` without
surrounding whitespace (pydantic would strip them), metadata's known fields, no
nesting past ``MAX_JSON_DEPTH``, valid UTF-8, and no integer beyond 64 bits (19
digits in a row in any document, or an escaped NUL anywhere, sends the batch the long
way).

PostgreSQL parses the text sent into jsonb to what it parses the long way's text to:
strings, integers, true, false and null read alike whatever their spacing or escapes.
A float is where they could differ -- orjson reads it as a double and writes that
double back (``1.50`` as ``1.5``, 17 digits rounded, ``1e-400`` as ``0.0``), while
jsonb keeps every digit -- so a batch is plain only when each float is written as
orjson writes its double (``_as_orjson_writes``). Checking that decodes the documents
whole, which only documents holding something shaped like a float pay for.

``read`` accepts only batches whose every event passes; ``rows`` only those whose ids
do not repeat and whose times lie within the organization's bounds (an event asking
for its own ``expires_at`` is not read). Anything else returns
None and the batch goes the long way, which alone words rejections: this path takes
a subset of what pydantic takes, and stores what the long way stores.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import chain, repeat
from operator import add, attrgetter, is_not
from typing import TYPE_CHECKING, Annotated, Final, cast

import msgspec
import orjson
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from commbase.core.ids import new_id
from commbase.core.schemas import MAX_JSON_DEPTH
from commbase.tracking.batches import JSON_TYPES, has_long_number
from commbase.tracking.bounds import MAX_FUTURE
from commbase.tracking.copying import Row
from commbase.tracking.screening import (
    METADATA_LIMITS,
    names_pass,
    shallow,
    times_pass,
    unpadded,
)

if TYPE_CHECKING:
    from commbase.tracking.events import TrackingPolicy

Reference = Annotated[str, Meta(min_length=1, max_length=64)]  # whitespace: ``_given_unpadded``
_NO_DOCUMENT: Final = Raw(b"{}")  # what an absent ``data`` or ``metadata`` is stored as


class _Event(Struct, forbid_unknown_fields=True, gc=False):
    """One event of a plain batch: ``schemas.TrackEventItem``'s fields."""

    type: str  # names, ids and times: ``screening``'s patterns, over the whole batch
    id: str | None = None
    user_id: Reference | None = None
    session_id: Reference | None = None
    call_id: Reference | None = None
    visitor_id: Reference | None = None
    account_id: Reference | None = None
    data: Raw = _NO_DOCUMENT
    metadata: Raw = _NO_DOCUMENT
    timestamp: str | None = None
    expires_at: None = None  # an event asking for its own expiry goes the long way


UserAgent = Annotated[str, Meta(max_length=dict(METADATA_LIMITS)["user_agent"])]
SdkVersion = Annotated[str, Meta(max_length=dict(METADATA_LIMITS)["sdk_version"])]
IpAddress = Annotated[str, Meta(min_length=1, max_length=45, pattern=r"\A[0-9A-Fa-f:.]+\Z")]


class _Metadata(Struct, gc=False):
    """Metadata's known fields (``schemas.EventMetadata``); other keys are kept as sent."""

    ip_address: IpAddress | UnsetType = UNSET
    user_agent: UserAgent | UnsetType = UNSET
    sdk_version: SdkVersion | UnsetType = UNSET


class _Batch(Struct, gc=False):
    """A plain batch's events, column by column, documents as JSON text."""

    ids: list[str | None]
    types: list[str]
    references: list[list[str | None]]  # in copying.COLUMNS' order
    data: list[str]
    metadata: list[str]
    times: list[datetime | None]
    addresses: list[bool]  # each event's metadata holds an ip_address


def _as_orjson_writes(literal: str) -> float:
    """A float of a document, when ``literal`` is the text orjson writes for its double:
    the text the long way stores. Raises ``ValueError`` for any other (``1.50``, ``1E5``,
    17 digits a double rounds, ``1e-400``, a number past a double's range)."""
    value = float(literal)
    if orjson.dumps(value) != literal.encode():
        raise ValueError("the long way would write this number otherwise")
    return value


_EVENTS: Final = msgspec.json.Decoder(list[_Event])
_DATA_KEYS: Final = msgspec.json.Decoder(list[dict[str, Raw]])
_METADATA: Final = msgspec.json.Decoder(list[_Metadata])
_FLOATS: Final = msgspec.json.Decoder(list[dict[str, object]], float_hook=_as_orjson_writes)
_REFERENCES: Final = ("user_id", "session_id", "call_id", "visitor_id", "account_id")
# A number follows ":", "[" or "," (made "S"), maybe after spaces; without its sign,
# digits and those spaces a float's text starts with "." or an exponent's "e" ("E" made
# "e", any other byte "x"). The documents' text shaped so holds "S." or "Se" wherever a
# float may be (or a string merely looks so): only then are they decoded whole.
_FLOAT_SHAPE: Final = bytes(
    {46: 46, 69: 101, 101: 101}.get(byte, 83 if byte in b":,[" else 120) for byte in range(256)
)
_NOT_IN_SHAPE: Final = b"0123456789+- \t\n\r"


def read(body: bytes, *, content_type: str, max_events: int) -> _Batch | None:
    """The batch when ``body`` is a JSON array of 1 to ``max_events`` plain events."""
    if content_type.split(";", 1)[0].strip().lower() not in JSON_TYPES or b"\\u0000" in body:
        return None
    try:
        events = _EVENTS.decode(body)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    if not 0 < len(events) <= max_events:
        return None
    ids = list(map(attrgetter("id"), events))
    types = list(map(attrgetter("type"), events))
    references = [list(map(attrgetter(field), events)) for field in _REFERENCES]
    texts = list(map(attrgetter("timestamp"), events))
    given = [text for text in texts if text is not None]
    if not (names_pass(types, ids) and all(map(_given_unpadded, references)) and times_pass(given)):
        return None
    raw_data = list(map(attrgetter("data"), events))
    raw_metadata = list(map(attrgetter("metadata"), events))
    try:
        data = list(map(str, raw_data, repeat("utf-8")))
        metadata = list(map(str, raw_metadata, repeat("utf-8")))
        moments = iter(list(map(datetime.fromisoformat, given)))
        known = _documents(raw_data, raw_metadata, data, metadata)
    except (msgspec.DecodeError, RecursionError, ValueError):  # UnicodeDecodeError too
        return None
    if known is None:
        return None
    return _Batch(
        ids=ids,
        types=types,
        references=references,
        data=data,
        metadata=metadata,
        times=[None if text is None else next(moments) for text in texts],
        addresses=list(map(is_not, map(attrgetter("ip_address"), known), repeat(UNSET))),
    )


def _given_unpadded(values: list[str | None]) -> bool:
    """No value given has whitespace around it (``screening.unpadded``)."""
    return unpadded([value for value in values if value is not None])


def _documents(
    raw_data: list[Raw], raw_metadata: list[Raw], data: list[str], metadata: list[str]
) -> list[_Metadata] | None:
    """Metadata's known fields when the documents are plainly storable; None otherwise.
    Raises ``msgspec.DecodeError`` for a document no event may hold."""
    texts = b",".join(chain(raw_data, raw_metadata))
    # Each document opens with a bracket; one nesting too deep holds MAX_JSON_DEPTH more.
    extra = texts.count(b"{") + texts.count(b"[") - len(data) - len(metadata)
    if extra >= MAX_JSON_DEPTH and not (shallow(data) and shallow(metadata)):
        return None
    if has_long_number(texts):  # maybe an integer beyond 64 bits
        return None
    shape = texts.translate(_FLOAT_SHAPE, _NOT_IN_SHAPE)
    if b"S." in shape or b"Se" in shape:
        _FLOATS.decode(b"[" + texts + b"]")  # every float as orjson writes it, or raises
    keys = chain.from_iterable(_DATA_KEYS.decode(b"[" + b",".join(raw_data) + b"]"))
    if not unpadded(list(keys)):
        return None
    return _METADATA.decode(b"[" + b",".join(raw_metadata) + b"]")


def rows(
    batch: _Batch, *, org_id: str, policy: TrackingPolicy, now: datetime
) -> tuple[list[Row], list[str]] | None:
    """The rows and chosen ids ``events._rows`` makes of the batch (an IP address the
    organization does not keep dropped, as there); None unless its ids do not repeat
    and its times lie within the organization's bounds."""
    ids: list[str | None] = batch.ids
    chosen = [event_id for event_id in ids if event_id is not None]
    if len(set(chosen)) != len(chosen):
        return None
    if len(chosen) != len(ids):
        # A generated id cannot repeat a stored one: only the client's are looked up.
        ids = [new_id("evt") if event_id is None else event_id for event_id in ids]
    times = [now if moment is None else moment for moment in batch.times]
    period = timedelta(days=policy.retention_days)
    if min(times) < now - period or max(times) > now + MAX_FUTURE:
        return None
    metadata = batch.metadata
    if not policy.store_ip and any(batch.addresses):
        metadata = list(map(_without_address, metadata, batch.addresses))
    made = zip(
        repeat(org_id),
        ids,
        batch.types,
        *batch.references,
        batch.data,
        metadata,
        times,
        repeat(now),
        map(add, times, repeat(period)),
    )
    return cast(list[Row], list(made)), chosen


def _without_address(text: str, has_address: bool) -> str:
    """Metadata's text without its ``ip_address``, written as the long way writes it
    (its floats are orjson's already, its integers short: the same values)."""
    if not has_address:
        return text
    document = orjson.loads(text)
    del document["ip_address"]
    return orjson.dumps(document).decode()
