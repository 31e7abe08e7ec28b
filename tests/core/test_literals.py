"""Constant lists written into a statement's text (``core.literals.among``), and the
placement's statements rendered once, not again at each execution."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, column, event, select, table, text
from sqlalchemy.dialects import postgresql, sqlite

from commbase.calls.enums import ACTIVE_STATUSES, CallStatus
from commbase.core.db import Database
from commbase.core.literals import among, listed
from tests.calls.factories import ANSWERED_94S, fund_wallet, place
from tests.identity.factories import make_tenant

_T = table("t", column("status"))
_NUMBERS = table("numbers", column("n", Integer))
_DIALECTS = [postgresql.dialect(), sqlite.dialect()]  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("dialect", _DIALECTS)
def test_the_values_are_written_into_the_text_with_no_parameter(dialect: Any) -> None:
    compiled = (
        select(_T.c.status).where(among(_T.c.status, ACTIVE_STATUSES)).compile(dialect=dialect)
    )
    assert "status IN ('in-progress', 'initiated', 'queued', 'ringing')" in str(compiled)
    assert "POSTCOMPILE" not in str(compiled)
    assert compiled.params == {}
    # ``in_`` of the same values would spell them out at every execution.
    expanding = select(_T.c.status).where(_T.c.status.in_(ACTIVE_STATUSES)).compile(dialect=dialect)
    assert "POSTCOMPILE" in str(expanding)


@pytest.mark.parametrize("value", ["it's", "a b", "", "x);drop table t;--", "é"])
def test_anything_but_a_plain_constant_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a plain constant"):
        among(_T.c.status, [CallStatus.QUEUED, value])


def test_no_values_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        among(_T.c.status, [])


async def test_a_placement_renders_none_of_its_statements_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Every statement a placement sends was rendered with its compiled form (cached),
    none spelled out again for that execution: an expanding parameter would be."""
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    rendered_again: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any) -> None:
        compiled = getattr(context, "compiled", None)
        if compiled is not None and "POSTCOMPILE" in compiled.string:
            rendered_again.append(compiled.string[:200])

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(2):  # the second with every cache warm
            placed = await place(client, tenant.headers, ANSWERED_94S)
            assert placed.status_code == 201, placed.text
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert rendered_again == []


async def test_a_list_known_at_execution_picks_its_rows_on_both_stacks(
    database: Database,
) -> None:
    """``listed``: PostgreSQL binds the list as one array (``= ANY``, a text rendered once,
    whatever the list's length); SQLite spells it out (expanding ``IN``). Either way the
    statement finds the rows named, whatever the list's length, and none for an empty
    list."""
    statement = select(_NUMBERS.c.n).select_from(_NUMBERS).where(listed(_NUMBERS.c.n, "wanted"))
    compiled = str(statement.compile(dialect=database.engine.dialect))
    if database.dialect == "postgresql":
        assert "= ANY" in compiled
        assert "POSTCOMPILE" not in compiled
    else:
        assert "POSTCOMPILE" in compiled
    async with database.engine.connect() as connection:
        await connection.execute(text("CREATE TEMPORARY TABLE numbers (n INTEGER)"))
        await connection.execute(text("INSERT INTO numbers VALUES (1), (2), (3), (4)"))
        for wanted, found in (([2, 4], [2, 4]), ([3], [3]), ([1, 2, 3, 9], [1, 2, 3]), ([], [])):
            rows = await connection.execute(statement.order_by(_NUMBERS.c.n), {"wanted": wanted})
            assert [n for (n,) in rows] == found
