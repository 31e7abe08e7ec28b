"""Cursor pagination: every item once, newest first; bad cursors are problems."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from commbase.core.errors import ValidationFailed
from commbase.core.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from commbase.identity.roles import Role
from tests.core.conftest import assert_problem
from tests.identity.factories import add_member, make_tenant


async def test_cursor_walk_returns_every_item_once_newest_first(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    created = [tenant.owner_id]
    for _ in range(6):
        user_id, _ = await add_member(app, tenant, role=Role.AGENT)
        created.append(user_id)

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/users", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([user["id"] for user in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "the walk does not end"

    assert [len(p) for p in pages] == [3, 3, 1]
    walked = [user_id for page in pages for user_id in page]
    assert walked == list(reversed(created))
    assert other.owner_id not in walked


async def test_a_page_that_fits_has_no_cursor(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    await add_member(app, tenant, role=Role.VIEWER)

    response = await client.get("/v1/users", params={"limit": 2}, headers=tenant.headers)

    assert response.status_code == 200
    assert len(response.json()["data"]) == 2
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["!!!!", "////", "%%%", "4pyT"])
async def test_garbage_cursor_is_a_422_problem(
    app: FastAPI, client: httpx.AsyncClient, cursor: str
) -> None:
    tenant = await make_tenant(app)

    response = await client.get("/v1/users", params={"cursor": cursor}, headers=tenant.headers)

    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] == [
        {"loc": ["query", "cursor"], "field": "cursor", "message": "invalid cursor"}
    ]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": MAX_LIMIT + 1}, {"limit": "ten"}, {"cursor": "a" * 129}],
)
async def test_out_of_range_page_parameters_are_422_problems(
    app: FastAPI, client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    tenant = await make_tenant(app)

    response = await client.get("/v1/users", params=params, headers=tenant.headers)

    body = assert_problem(response, 422, "validation-failed")
    errors = body["errors"]
    assert isinstance(errors, list)
    assert [e["field"] for e in errors] == list(params)


@given(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64)
)
def test_cursor_round_trips_any_id(last_id: str) -> None:
    cursor = encode_cursor(last_id)
    assert cursor.isascii()
    assert "=" not in cursor
    assert decode_cursor(cursor) == last_id


def test_decoding_a_cursor_that_is_too_long_fails() -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor("x" * 65))
