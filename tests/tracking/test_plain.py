"""Plain JSON batches read by msgspec (``tracking.plain``): only batches the long way
(orjson, the screen, pydantic) stores whole, and into the same rows; any other is left
to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commbase.core.errors import InvalidRequest
from commbase.tracking import plain
from commbase.tracking.batches import read_batch
from commbase.tracking.copying import DATA, METADATA, Row
from commbase.tracking.events import TrackingPolicy, _rows
from commbase.tracking.models import TrackedEvent
from tests.identity.factories import make_tenant
from tests.tracking.batch_strategies import items as batch_items

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DROPS_IP = TrackingPolicy(retention_days=90, store_ip=False)
KEEPS_IP = TrackingPolicy(retention_days=90, store_ip=True)
JSON = "application/json"


def plain_way(body: bytes, policy: TrackingPolicy = DROPS_IP) -> tuple[list[Row], list[str]] | None:
    batch = plain.read(body, content_type=JSON, max_events=1000)
    return None if batch is None else plain.rows(batch, org_id="org_1", policy=policy, now=NOW)


def long_way(body: bytes, policy: TrackingPolicy = DROPS_IP) -> tuple[Any, ...]:
    valid, rejected = read_batch(body, content_type=JSON, max_events=1000)
    rows, chosen, repeated = _rows(valid, rejected, org_id="org_1", policy=policy, now=NOW)
    return rows, chosen, rejected, repeated


def comparable(rows: list[Row], chosen: list[str]) -> list[tuple[Any, ...]]:
    """Rows with their documents as the values jsonb holds (numbers as decimals, every
    digit kept) and generated ids as None."""
    return [
        (
            *row[:1],
            row[1] if row[1] in chosen else None,
            *row[2:DATA],
            json.loads(row[DATA], parse_float=Decimal, parse_int=Decimal),
            json.loads(row[METADATA], parse_float=Decimal, parse_int=Decimal),
            *row[METADATA + 1 :],
        )
        for row in rows
    ]


def event(n: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"e-{n}",
        "type": "page.scrolled",
        "user_id": f"usr_{n}",
        "data": {"n": n, "ok": True, "label": "a b"},
        "metadata": {"sdk_version": "2.4.1", "user_agent": "sdk/2.4.1 " + "x" * 80},
        "timestamp": (NOW - timedelta(minutes=n)).isoformat(),
        **fields,
    }


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
INTEGERS = st.integers(-(2**53), 2**53) | st.integers()
KEYS = st.sampled_from(["a", "k", "é", "a b"]) | st.text(max_size=3)
DOCUMENT = st.recursive(
    st.none() | st.booleans() | INTEGERS | FLOATS | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(batch_items(share=16), min_size=1, max_size=4),
    st.lists(st.dictionaries(KEYS, DOCUMENT, max_size=3), max_size=4),
    st.booleans(),
    st.sampled_from([None, 1]),
    st.booleans(),
)
def test_a_plain_batch_makes_the_rows_the_long_way_makes(
    items: list[Any], documents: list[Any], ascii_only: bool, indent: int | None, keeps_ip: bool
) -> None:
    """Any batch, written by the standard library (integers past 64 bits, floats with
    exponents, escapes or not, spaces or not): when this path takes it, the long way
    takes all of it, to the same rows; when the long way refuses the body, so does this."""
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("id") == "id-1":
            item["id"] = f"id-{index}"  # a batch repeating an id is the long way's
    for item, document in zip(items, documents, strict=False):
        if isinstance(item, dict) and isinstance(item.get("data"), dict):
            item["data"] = document
    body = json.dumps(items, ensure_ascii=ascii_only, indent=indent).encode()
    policy = KEEPS_IP if keeps_ip else DROPS_IP
    made = plain_way(body, policy)
    try:
        rows, chosen, rejected, repeated = long_way(body, policy)
    except InvalidRequest:  # a body orjson refuses
        assert made is None
        return
    if made is None:
        return
    assert (rejected, repeated) == ([], 0)
    assert made[1] == chosen
    assert comparable(*made) == comparable(rows, chosen)


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
PLAIN_EVENT = st.fixed_dictionaries(
    {
        "type": st.from_regex(r"[A-Za-z0-9_.:-]{1,100}", fullmatch=True),
        "data": st.dictionaries(KEYS, DOCUMENT, max_size=4),
        "timestamp": st.datetimes(  # hypothesis takes naive bounds, then adds the offsets
            min_value=datetime(2026, 9, 1),  # noqa: DTZ001
            max_value=datetime(2026, 11, 21),  # noqa: DTZ001
            timezones=OFFSETS,
        ).map(datetime.isoformat),
    },
    optional={
        "id": st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True) | st.none(),
        "user_id": st.text(min_size=1, max_size=64) | st.none(),
        "call_id": st.from_regex(r"call_[0-9a-f]{1,20}", fullmatch=True),
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "sdk_version": st.text(max_size=50),
                "user_agent": st.text(max_size=300),
                "ip_address": st.ip_addresses().map(str),
                "platform": DOCUMENT,
            },
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(PLAIN_EVENT, min_size=1, max_size=5, unique_by=lambda event: str(event.get("id"))),
    st.booleans(),
    st.booleans(),
)
def test_plain_looking_batches_make_the_rows_the_long_way_makes(
    events: list[Any], ascii_only: bool, keeps_ip: bool
) -> None:
    """Batches an SDK would send, with any values: taken by this path (most are), they
    make the long way's rows."""
    body = json.dumps(events, ensure_ascii=ascii_only).encode()
    policy = KEEPS_IP if keeps_ip else DROPS_IP
    made = plain_way(body, policy)
    rows, chosen, rejected, repeated = long_way(body, policy)
    if made is None:
        return
    assert (rejected, repeated) == ([], 0)
    assert made[1] == chosen
    assert comparable(*made) == comparable(rows, chosen)


def test_an_sdks_batch_is_plain_and_its_documents_are_stored_as_sent() -> None:
    batch = [event(n) for n in range(1, 30)]
    body = orjson.dumps(batch)
    made = plain_way(body)
    assert made is not None
    rows, chosen = made
    assert chosen == [f"e-{n}" for n in range(1, 30)]
    assert rows[0][DATA] == '{"n":1,"ok":true,"label":"a b"}'  # the text sent, not rewritten
    assert rows[0][10] == NOW - timedelta(minutes=1)
    assert rows[0][12] == rows[0][10] + timedelta(days=90)
    assert comparable(rows, chosen) == comparable(*long_way(body)[:2])


@pytest.mark.parametrize(
    "number", [b"1.5", b"-0.0", b"1e+300", b"5e-324", b"0.00001", b"100.0", b"-7", b"0"]
)
def test_a_float_written_as_orjson_writes_it_is_kept_as_sent(number: bytes) -> None:
    body = b'[{"type": "x", "data": {"n": [%s]}, "metadata": {"v": {"n": %s}}}]' % (
        number,
        number,
    )
    made = plain_way(body)
    assert made is not None
    assert made[0][0][DATA].encode() == b'{"n": [%s]}' % number
    assert comparable(*made) == comparable(*long_way(body)[:2])


@pytest.mark.parametrize(
    "number",
    [b"1.50", b"1E5", b"1e300", b"0.12345678901234567", b"1e-400", b"1e-20000", b"-0.10"],
)
def test_a_float_orjson_would_write_otherwise_goes_the_long_way(number: bytes) -> None:
    """Stored as sent, jsonb would keep digits (or refuse a scale) the long way drops."""
    for document in (b'"data": {"n": %s}', b'"metadata": {"v": [%s]}'):
        body = b'[{"type": "x", %s}]' % (document % number)
        assert plain_way(body) is None
        rows, _, rejected, _ = long_way(body)
        assert (len(rows), rejected) == (1, [])


def test_a_string_shaped_like_a_float_is_no_float() -> None:
    data = {"hash": "5e3a9f", "v": "1E7", "at": "10:30.5", "text": "well, each"}
    made = plain_way(orjson.dumps([event(data=data)]))
    assert made is not None
    assert orjson.loads(made[0][0][DATA]) == data


@pytest.mark.parametrize(
    "body",
    [
        b'[{"type": "x", "data": {"x": 1e400}}]',  # orjson: infinity as a double
        b'[{"type": "x", "metadata": {"v": -2E+309}}]',
        b'[{"type": "x", "data": {"x": 01}}]',
        b'[{"type": "x", "data": {"x": "\\ud800"}}]',  # a lone surrogate
        b'[{"type": "x", "data": {"x": "\xff"}}]',  # not UTF-8
        b'[{"type": "x", "data": {"x": NaN}}]',
        b"\xef\xbb\xbf[]",
    ],
)
def test_a_body_orjson_refuses_is_not_plain(body: bytes) -> None:
    assert plain_way(body) is None
    with pytest.raises(InvalidRequest):
        long_way(body)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "batch",
    [
        [event(data={"x": 12345678901234567890})],  # maybe past 64 bits
        [event(data={"x": "\u0000"})],
        [event(data={" k": 1})],  # pydantic strips keys
        [event(data=None)],
        [event(data=[1])],
        [event(metadata=None)],
        [event(metadata={"user_agent": "u" * 1025})],
        [event(metadata={"sdk_version": None})],
        [event(metadata={"ip_address": ""})],
        [event(metadata={"ip_address": "10.0.0.x"})],
        [event(data={"deep": nested(40)})],
        [event(data={"wide": [[n] for n in range(40)]})],  # the long way counts them
        [event(type="page.scrolled\n")],
        [event(type=" page.scrolled")],
        [event(id="x" * 65)],
        [event(user_id=" usr_1")],
        [event(user_id="")],
        [event(session_id=5)],
        [event(timestamp="2026-11-20T10:00:00+05:60")],
        [event(timestamp="2026-11-20 10:00:00Z")],
        [event(timestamp="2026-11-20T10:00:00")],
        [event(timestamp=""), event(2)],
        [event(expires_at=(NOW + timedelta(days=1)).isoformat())],
        [event(colour="red")],
        [],
        {"type": "x"},
    ],
)
def test_other_batches_go_the_long_way(batch: Any) -> None:
    assert plain_way(orjson.dumps(batch)) is None


@pytest.mark.parametrize(
    "batch",
    [
        [event(1), event(1)],  # a repeated id
        [event(timestamp=(NOW + timedelta(days=2)).isoformat())],
        [event(timestamp=(NOW - timedelta(days=91)).isoformat())],
    ],
)
def test_batches_read_plainly_but_not_to_store_as_they_are_go_the_long_way(batch: Any) -> None:
    body = orjson.dumps(batch)
    assert plain.read(body, content_type=JSON, max_events=1000) is not None
    assert plain_way(body) is None


def test_ip_addresses_are_dropped_as_the_long_way_drops_them() -> None:
    metadata = {"sdk_version": "2", "ip_address": "10.0.0.1", "f": [0.5, 1e-7, 2**55]}
    body = orjson.dumps(
        [event(1, metadata=metadata), event(2), event(3, metadata={"ip_address": "::1"})]
    )
    made = plain_way(body)
    assert made is not None
    rows, chosen = made
    assert [orjson.loads(row[METADATA]) for row in rows] == [
        {"sdk_version": "2", "f": [0.5, 1e-7, 2**55]},
        event(2)["metadata"],
        {},
    ]
    assert rows[1][METADATA] == orjson.dumps(event(2)["metadata"]).decode()  # untouched
    assert comparable(rows, chosen) == comparable(*long_way(body)[:2])


def test_ip_addresses_stay_when_the_organization_keeps_them() -> None:
    body = orjson.dumps([event(metadata={"ip_address": "10.0.0.1"})])
    made = plain_way(body, KEEPS_IP)
    assert made is not None
    assert orjson.loads(made[0][0][METADATA]) == {"ip_address": "10.0.0.1"}


def test_only_json_arrays_within_the_limit_are_read() -> None:
    body = orjson.dumps([event(n) for n in range(3)])
    assert plain.read(body, content_type="application/json; charset=utf-8", max_events=3)
    assert plain.read(body, content_type="application/json", max_events=2) is None
    assert plain.read(body, content_type="application/x-ndjson", max_events=3) is None


async def test_the_api_stores_a_plain_batch_as_it_stores_one_that_goes_the_long_way(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    documents = {
        "data": {"amount": 1.50, "big": 1e300, "tags": ["a", "é"], "deep": {"x": [None, {}]}},
        "metadata": {"sdk_version": "2.4.1", "platform": "web"},
    }
    moment = datetime.now(UTC) - timedelta(minutes=5)
    plain_batch = [
        {"id": f"p-{n}", "type": "page.scrolled", **documents, "timestamp": moment.isoformat()}
        for n in range(3)
    ]
    # The same events, one with a type pydantic strips: the whole batch goes the long way.
    long_batch = [{**item, "id": f"l-{n}"} for n, item in enumerate(plain_batch)]
    long_batch[0]["type"] = " page.scrolled "
    for batch in (plain_batch, long_batch):
        body = json.dumps(batch, ensure_ascii=False, indent=1).encode()
        assert (plain.read(body, content_type=JSON, max_events=1000) is None) == (
            batch is long_batch
        )
        response = await client.post(
            "/v1/track/events",
            content=body,
            headers={**tenant.headers, "Content-Type": JSON},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}

    async with app.state.db.sessionmaker() as session:
        stored = {
            e.event_id: e
            for e in await session.scalars(
                select(TrackedEvent).where(TrackedEvent.org_id == tenant.org_id)
            )
        }
    for n in range(3):
        kept, long = stored[f"p-{n}"], stored[f"l-{n}"]
        assert (kept.type, kept.data, kept.metadata_, kept.occurred_at) == (
            long.type,
            long.data,
            long.metadata_,
            long.occurred_at,
        )
    # (PostgreSQL's jsonb writes 1e300 back as 301 digits, whichever way it came.)
    assert {k: v for k, v in stored["p-0"].data.items() if k != "big"} == {
        "amount": 1.5,
        "tags": ["a", "é"],
        "deep": {"x": [None, {}]},
    }
