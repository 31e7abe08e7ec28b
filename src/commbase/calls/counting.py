"""A call's provider reports (``call_events`` rows) and a finished call's counters.

``report_row`` is a report's row. ``write_reports`` writes rows with one INSERT on
the table (no ORM objects: building and flushing them cost more CPU than the
statement). ``count_finished`` counts a finished call for the other party's contact
(``contacts.counters``) and for its user (``identity.service.RECORD_CALL``) and
writes the call's reports not written yet and records its outbox events: on
PostgreSQL all of it is one statement (the counters' UPDATEs and the events'
INSERTs as CTEs of the reports' INSERT; the finished call's own UPDATE too when only
it waits to be flushed, ``writes_call``), elsewhere one statement each, as before.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    Table,
    bindparam,
    column,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.models import Call, CallEvent
from commbase.contacts import counters as contact_counters
from commbase.core import outbox
from commbase.core.db import UTCDateTime
from commbase.core.records import json_records
from commbase.core.time import aware_iso, utcnow
from commbase.identity import service as identity_service

_REPORTS: Table = CallEvent.__table__  # type: ignore[assignment]
_REPORT_COLUMNS = ("status", "applied", "source", "occurred_at", "payload", "created_at")


def report_row(
    *,
    org_id: str,
    call_id: str,
    status: str,
    applied: bool,
    source: str,
    occurred_at: datetime,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """A ``call_events`` row: one report as received, recorded now."""
    return {
        "org_id": org_id,
        "call_id": call_id,
        "status": status,
        "applied": applied,
        "source": source,
        "occurred_at": occurred_at,
        "payload": payload,
        "created_at": utcnow(),
    }


def _document(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array, in order (``n``), for ``json_to_recordset``."""
    return json.dumps(
        [
            {
                "n": n,
                "status": row["status"],
                "applied": row["applied"],
                "source": row["source"],
                "occurred_at": aware_iso(row["occurred_at"]),
                "payload": row["payload"],
                "created_at": aware_iso(row["created_at"]),
            }
            for n, row in enumerate(rows)
        ]
    )


# PostgreSQL: a call's reports, in order, from one JSON document (one statement, one
# parameter, whatever their number). Parameters: ``r_org_id``, ``r_call_id``, ``reports``
# (no parameter is named after a column of the tables written: it would be SET).
_RECORDSET = json_records(
    "reports",
    "r",
    column("n", Integer),
    column("status", String),
    column("applied", Boolean),
    column("source", String),
    column("occurred_at", DateTime(timezone=True)),
    column("payload", JSONB),
    column("created_at", DateTime(timezone=True)),
)
_INSERT_REPORTS = insert(_REPORTS).from_select(
    ["org_id", "call_id", *_REPORT_COLUMNS],
    select(
        bindparam("r_org_id", type_=String),
        bindparam("r_call_id", type_=String),
        *(_RECORDSET.c[name] for name in _REPORT_COLUMNS),
    ).order_by(_RECORDSET.c.n),
)
# The same, with the counters of a finished call as CTEs: the other party's contact
# (none when ``b_phone`` is null) and the user (none when ``user_id`` is null). The
# counters' times are parameters (``contact_updated_at``, ``user_updated_at``): the
# app's clock, as their UPDATEs alone take it.
_COUNTED_CONTACT = (
    contact_counters.RECORD_CALL.values(
        updated_at=bindparam("contact_updated_at", type_=UTCDateTime())
    )
    .returning(contact_counters.RECORD_CALL.table.c.id)
    .cte("counted_contact")
)
_COUNTED_USER = (
    identity_service.RECORD_CALL.values(
        updated_at=bindparam("user_updated_at", type_=UTCDateTime())
    )
    .returning(identity_service.RECORD_CALL.table.c.id)
    .cte("counted_user")
)
_FINISH = _INSERT_REPORTS.add_cte(_COUNTED_CONTACT).add_cte(_COUNTED_USER)
# And the call's outbox events not recorded yet (``outbox.events_parameters``).
_FINISH_WITH_EVENTS = _FINISH.add_cte(*outbox.EVENTS_CTES)
# The columns of a call its reports change (``calls.lifecycle``; attribute names are
# the column names). When nothing else waits to be flushed (``writes_call``), the
# finished call's row is written with them in the finishing statement, from the
# loaded call, instead of by the ORM's flush (a round trip, and more CPU than the
# statement): parameters ``c_id`` and ``c_<column>``.
CALL_COLUMNS = (
    "status",
    "end_reason",
    "initiated_at",
    "ringing_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "waiting_time_seconds",
    "response_time_seconds",
    "billable_minutes",
    "cost_amount",
    "cost_breakdown",
    "ledger_entry_id",
    "personal_data_expires_at",
    "updated_at",
)
_CALL_COLUMN_SET = frozenset(CALL_COLUMNS)
_CALLS: Table = Call.__table__  # type: ignore[assignment]
_FINISHED_CALL = (
    update(_CALLS)
    .where(_CALLS.c.id == bindparam("c_id"))
    .values({name: bindparam(f"c_{name}", type_=_CALLS.c[name].type) for name in CALL_COLUMNS})
    .returning(_CALLS.c.id)
    .cte("finished_call")
)
# By (the call's row written, events recorded).
_FINISHES = {
    (False, False): _FINISH,
    (False, True): _FINISH_WITH_EVENTS,
    (True, False): _FINISH.add_cte(_FINISHED_CALL),
    (True, True): _FINISH_WITH_EVENTS.add_cte(_FINISHED_CALL),
}


async def write_reports(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write a call's report rows (all of one call), in order, and forget them."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            _INSERT_REPORTS,
            {
                "r_org_id": rows[0]["org_id"],
                "r_call_id": rows[0]["call_id"],
                "reports": _document(rows),
            },
        )
    else:
        await session.execute(insert(_REPORTS), rows)
    rows.clear()


async def count_finished(
    session: AsyncSession,
    *,
    org_id: str,
    call_id: str,
    party: str | None,
    at: datetime,
    duration_s: int,
    user_id: str | None,
    kind: str,
    reports: list[dict[str, Any]],
    events: list[tuple[str, dict[str, Any], datetime]],
    call: Call | None = None,
) -> None:
    """Count a finished call of ``duration_s`` seconds ended ``at`` for the contact
    of ``org_id`` with the E.164 number ``party`` and for the user ``user_id`` (each
    when given), and write the call's ``reports`` and record its outbox ``events``
    (type, payload, recorded at; both then emptied). The caller has flushed the
    session, or only ``call``'s changes wait, all among ``CALL_COLUMNS``
    (``writes_call``): they are written here, first. From here to the commit the
    counted rows are locked."""
    duration_s = max(0, duration_s)
    if not reports or session.get_bind().dialect.name != "postgresql":
        if call is not None:
            await session.flush()
        await outbox.record_events(session, events, org_id=org_id)
        events.clear()
        await write_reports(session, reports)
        if party:
            await contact_counters.record_call(
                session, org_id=org_id, phone=party, at=at, duration_s=duration_s
            )
        if user_id:
            await identity_service.record_call_for_user(
                session, user_id=user_id, kind=kind, duration_s=duration_s
            )
        return
    now = utcnow()
    recorded = outbox.events_parameters(session, events, org_id=org_id) if events else {}
    written: dict[str, Any] = {}
    if call is not None:
        written = {name: getattr(call, name) for name in CALL_COLUMNS}
        if "updated_at" not in inspect(call).committed_state:
            written["updated_at"] = now  # the column's ``onupdate``, as a flush sets it
        recorded.update({f"c_{name}": value for name, value in written.items()}, c_id=call.id)
    # No autoflush (Core statements flush first whatever their options): the call's
    # changes are this statement's own (``writes_call``).
    with session.no_autoflush:
        await session.execute(
            _FINISHES[call is not None, bool(events)],
            {
                **recorded,
                "r_org_id": org_id,
                "r_call_id": call_id,
                "reports": _document(reports),
                "b_org_id": org_id,
                "b_phone": party or None,
                "at": at,
                "duration_s": duration_s,
                "contact_updated_at": now,
                "u_user_id": user_id,
                "video": 1 if kind == "video" else 0,
                "user_updated_at": now,
            },
        )
    reports.clear()
    events.clear()
    if call is not None:
        _written(session, call, written)
    if party:
        contact_counters.expire_loaded(session, org_id=org_id, phone=party)


def writes_call(session: AsyncSession, call: Call) -> bool:
    """Whether ``count_finished`` can write ``call``'s changes itself (PostgreSQL):
    the session holds no other change to flush and the call's are all among
    ``CALL_COLUMNS``."""
    if session.get_bind().dialect.name != "postgresql" or session.new or session.deleted:
        return False
    state = inspect(call)
    dirty = session.dirty
    return (
        state.persistent
        and len(dirty) == 1
        and call in dirty
        and _CALL_COLUMN_SET.issuperset(state.committed_state)
    )


def _written(session: AsyncSession, call: Call, values: dict[str, Any]) -> None:
    """Mark ``call`` as the flush would once its ``values`` are written: nothing of
    it left to flush, its attributes what the row now holds."""
    state = inspect(call)
    state.dict.update(values)
    # What a flush does with the objects it wrote (SQLAlchemy's own, not public). The
    # public ``orm.attributes.set_committed_value`` commits values but leaves the call
    # marked modified, in ``session.dirty``: the next flush would take it through a
    # unit of work (mapper and flush events) for nothing (tests/calls/
    # test_call_statements.py: ..._is_left_clean_in_its_session).
    state._commit_all(state.dict, session.sync_session.identity_map)
