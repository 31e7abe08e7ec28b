"""A placed call stored with one Core ``INSERT`` instead of the ORM's unit of work.

Every placement stores one new call and reads nothing of it back: the ORM's flush
(state tracking, dependency sorting, a bind per column, then marking the object
persistent) cost about twice the CPU of the same ``INSERT`` sent as a Core
statement. The ``Call`` built by ``placement`` stays a transient object that
answers the request and fills the ``call.queued`` payload; :func:`insert_call`
first gives it, as the flush would, the value of every column default it was not
given or was given as None (its id, the timestamps, ``{}``/``[]``/``0``...), so
what the client reads is what was stored. The row always names every column, so the statement is
compiled once. On PostgreSQL the ``call.queued`` event and its deliveries are CTEs
of that INSERT (:func:`insert_call_and_record`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, bindparam, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import holds
from commbase.billing.holds import Hold
from commbase.billing.models import Wallet
from commbase.calls import concurrency
from commbase.calls.models import Call
from commbase.core import outbox
from commbase.core.time import utcnow


def _filler(column: Any) -> Callable[[], Any] | None:
    """What the ORM would insert for ``column`` when the object leaves it unset."""
    default = column.default
    if default is None:
        if column.server_default is not None:
            # Only the database would know the value: the answer could not show it.
            raise TypeError(f"calls.{column.key}: a server default needs the ORM's flush")
        return None
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        make = default.arg
        return lambda: make(None)  # SQLAlchemy's wrapper of a no-argument callable
    raise TypeError(f"calls.{column.key}: a SQL default needs the ORM's flush")


def _columns() -> list[tuple[str, str, Callable[[], Any] | None]]:
    """(attribute, parameter, filler) of every column: the parameter is the column's
    name prefixed ``c_``, as no column of a table another CTE writes is named: a
    parameter named after a column of the wallets the hold updates would be SET there."""
    found = []
    for attribute in inspect(Call).column_attrs:
        (column,) = attribute.columns
        found.append((attribute.key, f"c_{column.key}", _filler(column)))
    return found


_COLUMNS = _columns()
_TABLE: Table = Call.__table__  # type: ignore[assignment]  # declared as a FromClause
_INSERT = insert(_TABLE).values(
    {column: bindparam(f"c_{column.key}", type_=column.type) for column in _TABLE.columns}
)


def row_of(call: Call) -> dict[str, Any]:
    """Every column of the transient ``call`` by its parameter, its defaults filled in
    (on ``call`` too)."""
    given = call.__dict__
    row: dict[str, Any] = {}
    for key, column, fill in _COLUMNS:
        value = given.get(key)
        # As the flush: a column with a default left unset, or set to None, gets it.
        if value is None and fill is not None:
            value = fill()
            setattr(call, key, value)
        row[column] = value
    return row


async def insert_call(session: AsyncSession, call: Call) -> None:
    """Store the transient ``call`` in ``session``'s transaction; IntegrityError as a
    flush would raise it. ``call`` stays out of the session (nothing is tracked)."""
    await session.execute(_INSERT, row_of(call))


# On PostgreSQL the call's first event rides on its INSERT: the outbox's rows are
# CTEs of the statement (``outbox.EVENTS_CTES``), one round trip instead of two; so
# does the count of the caller's calls in progress (``calls.concurrency``), which
# the statement returns (its snapshot does not see the row it inserts).
INSERT_WITH_EVENTS = _INSERT.add_cte(*outbox.EVENTS_CTES)


def _counting(owner: str) -> Any:
    active = concurrency.counted(owner)
    return INSERT_WITH_EVENTS.add_cte(active).returning(select(active.c.active).scalar_subquery())


_INSERT_COUNTING = {owner: _counting(owner) for owner in concurrency.OWNERS}


def _holding(owner: str) -> Any:
    """And the call's hold on its wallet (``holds.HELD``), whose balances it returns."""
    active = concurrency.counted(owner)
    return INSERT_WITH_EVENTS.add_cte(holds.HELD, active).returning(
        select(active.c.active).scalar_subquery(),
        *(select(balance).scalar_subquery() for balance in holds.HELD_BALANCES),
    )


_INSERT_HOLDING = {owner: _holding(owner) for owner in concurrency.OWNERS}


async def insert_call_and_record(
    session: AsyncSession,
    call: Call,
    event_type: str,
    payload_of: Callable[[Call], dict[str, Any]],
    *,
    in_progress: concurrency.InProgress | None = None,
    hold: tuple[Wallet, Hold] | None = None,
) -> None:
    """:func:`insert_call`, then the event ``payload_of(call)`` (read once the call's
    defaults are filled) recorded in the outbox as ``outbox.record`` would: one
    statement on PostgreSQL, two elsewhere. An IntegrityError stores neither.

    ``in_progress``: the caller's other calls in progress are counted first (on
    PostgreSQL by the same statement), RateLimited when they are at the limit; the
    caller's transaction must then roll back (on PostgreSQL the call was inserted).

    ``hold`` (with ``in_progress``): the call's hold taken on its wallet first, which
    this transaction has locked (``callers.lock_payer``): on PostgreSQL in the same
    statement, elsewhere by one of its own; PaymentRequired, the transaction to roll
    back, if the wallet no longer covers it (it cannot while locked)."""
    row = row_of(call)
    payload = payload_of(call)
    if session.get_bind().dialect.name != "postgresql":
        if hold is not None:
            await holds.take(session, *hold)
        if in_progress is not None:
            await concurrency.refuse_if_full(session, in_progress)
        await session.execute(_INSERT, row)
        await outbox.record(session, event_type, payload, org_id=call.org_id)
        return
    events = outbox.events_parameters(
        session, [(event_type, payload, utcnow())], org_id=call.org_id
    )
    if in_progress is None:
        await session.execute(INSERT_WITH_EVENTS, {**row, **events})
        return
    parameters = {**row, **events, **in_progress.parameters()}
    if hold is None:
        active = await session.scalar(_INSERT_COUNTING[in_progress.owner], parameters)
    else:
        wallet, held = hold
        statement = _INSERT_HOLDING[in_progress.owner]
        parameters.update(holds.held_parameters(wallet, held))
        active, *balances = (await session.execute(statement, parameters)).one()
        holds.show_taken(wallet, balances)
    in_progress.refuse_over(active)
