"""The screen of plainly valid batches (``tracking.screening``): it accepts only what
pydantic accepts, with pydantic's values, and leaves anything else to pydantic."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import select

from commbase.tracking.batches import _EVENTS, read_batch
from commbase.tracking.models import TrackedEvent
from commbase.tracking.screening import screen
from tests.identity.factories import make_tenant
from tests.tracking.batch_strategies import ITEM


def _with_offsets(events: list[Any]) -> list[Any]:
    """Events whose datetimes also show their offsets (equal datetimes may differ there)."""
    return [
        {k: (v, v.utcoffset()) if isinstance(v, datetime) else v for k, v in event.items()}
        for event in events
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ITEM, min_size=1, max_size=4))
def test_the_screen_accepts_only_what_pydantic_accepts_and_as_pydantic_reads_it(
    items: list[Any],
) -> None:
    screened = screen(copy.deepcopy(items))
    try:
        validated = _EVENTS.validate_python(copy.deepcopy(items))
    except ValidationError:
        assert screened is None
        return
    if screened is not None:
        assert _with_offsets(list(screened)) == _with_offsets(list(validated))


def test_an_sdks_batch_passes_the_screen() -> None:
    moment = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    batch = [
        {
            "id": f"run-{n:09d}",
            "type": "page.scrolled",
            "user_id": f"usr_{n:06d}",
            "session_id": "ses_1",
            "call_id": None,
            "account_id": "acct_main",
            "data": {"value": n, "ok": True, "label": "bench"},
            "metadata": {"sdk_version": "2.4.1", "user_agent": "commbase-sdk/2.4.1 (bench)"},
            "timestamp": (moment - timedelta(milliseconds=n)).isoformat(),
        }
        for n in range(50)
    ]
    screened = screen(copy.deepcopy(batch))
    assert screened is not None
    assert screened[1]["timestamp"] == moment - timedelta(milliseconds=1)
    valid, rejected = read_batch(
        orjson.dumps(batch), content_type="application/json", max_events=1000
    )
    assert (len(valid), rejected) == (50, [])


async def test_values_pydantic_strips_are_stored_stripped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    plain = {"id": "s-1", "type": "page.scrolled", "user_id": "usr_1", "data": {"k": 1}}
    padded = {"id": "s-2", "type": " page.scrolled ", "user_id": " usr_2\t", "data": {" k ": 2}}

    response = await client.post("/v1/track/events", json=[plain, padded], headers=tenant.headers)

    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    async with app.state.db.sessionmaker() as session:
        stored = list(
            await session.scalars(
                select(TrackedEvent)
                .where(TrackedEvent.org_id == tenant.org_id)
                .order_by(TrackedEvent.event_id)
            )
        )
    assert [(e.event_id, e.type, e.user_id, e.data) for e in stored] == [
        ("s-1", "page.scrolled", "usr_1", {"k": 1}),
        ("s-2", "page.scrolled", "usr_2", {"k": 2}),
    ]


def test_an_offset_past_59_minutes_is_left_to_pydantic() -> None:
    """``datetime.fromisoformat`` reads +05:60 as +06:00; pydantic refuses it."""
    for offset in ("+05:60", "-00:75", "+05:99"):
        batch = [{"type": "page.viewed", "timestamp": f"2026-11-29T10:00:00{offset}"}]
        assert screen(copy.deepcopy(batch)) is None
        with pytest.raises(ValidationError):
            _EVENTS.validate_python(batch)
