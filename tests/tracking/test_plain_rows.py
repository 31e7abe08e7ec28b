"""A plain batch's rows built column by column (``events._plain_rows``) are the rows the
event-by-event loop (``events._rows``) builds; any other batch is left to that loop."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from commbase.tracking.events import TrackingPolicy, _plain_rows, _rows
from commbase.tracking.schemas import TrackEventItem

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
POLICY = TrackingPolicy(retention_days=90, store_ip=False)


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"e-{n}",
        "type": "page.scrolled",
        "user_id": f"usr_{n}",
        "call_id": None,
        "data": {"n": n, "ok": True},
        "metadata": {"sdk_version": "2.4.1", "user_agent": "sdk/2.4.1 " + "x" * 80},
        "timestamp": NOW - timedelta(minutes=n),
        **fields,
    }


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def both(events: list[dict[str, Any]], policy: TrackingPolicy = POLICY) -> tuple[Any, Any]:
    valid = cast(list[tuple[int, TrackEventItem]], list(enumerate(events)))
    rejected: list[Any] = []
    looped = _rows(copy.deepcopy(valid), rejected, org_id="org_1", policy=policy, now=NOW)
    plain = _plain_rows(copy.deepcopy(valid), org_id="org_1", policy=policy, now=NOW)
    return looped, plain


@pytest.mark.parametrize(
    "events",
    [
        [event(n) for n in range(5)],
        [event(1, timestamp=None), event(2)],  # now
        [event(1, data={}, metadata={}), {"id": "bare", "type": "x"}],
        [event(1, metadata={"ip_address": "10.0.0.1", "sdk_version": "1"})],  # not kept
        [event(1, data={"deep": [[[[[[1]]]]]], "wide": list(range(100))})],
        [event(1, data={"big": 2**60})],  # orjson's strict integers stop; the loop keeps it
        # Long documents with 32 brackets, among flat ones: counted one by one.
        [
            *[event(n, data={"wide": [[n] for n in range(30)]}) for n in range(2)],
            *[event(n) for n in range(2, 9)],
        ],
    ],
)
def test_plain_batches_make_the_same_rows(events: list[dict[str, Any]]) -> None:
    (rows, chosen, repeated), plain = both(events)
    if plain is None:  # only the big integer's batch goes to the loop
        assert events[0]["data"].get("big") == 2**60
        return
    assert plain == (rows, chosen)
    assert repeated == 0


def test_generated_ids_are_new_and_not_chosen() -> None:
    (rows, chosen, _), plain = both([event(1, id=None), event(2)])
    assert plain is not None
    assert plain[1] == chosen == ["e-2"]
    assert plain[0][0][1].startswith("evt_")
    assert [row[2:] for row in plain[0]] == [row[2:] for row in rows]


def test_ip_addresses_stay_when_the_organization_keeps_them() -> None:
    policy = TrackingPolicy(retention_days=90, store_ip=True)
    events = [event(1, metadata={"ip_address": "10.0.0.1"})]
    (rows, _, _), plain = both(events, policy)
    assert plain is not None
    assert plain[0] == rows
    assert "10.0.0.1" in plain[0][0][9]


@pytest.mark.parametrize(
    "events",
    [
        [event(1), event(1)],  # a repeated id
        [event(1, expires_at=NOW + timedelta(days=1))],
        [event(1, timestamp=NOW + timedelta(days=2))],  # ahead
        [event(1, timestamp=NOW - timedelta(days=91))],  # past retention
        [event(1, data={"deep": nested(40)})],  # the loop refuses it
        [event(1, data={"wide": [[n] for n in range(40)]})],  # the loop stores it
        [event(1, data={"huge": 2**64})],
    ],
)
def test_other_batches_go_to_the_loop(events: list[dict[str, Any]]) -> None:
    _, plain = both(events)
    assert plain is None
