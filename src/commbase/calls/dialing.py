"""Dialing after commit: the carrier hears of a call only once its row and hold exist.

``place_call`` stores the call as ``queued`` with its hold and records
``call.queued`` in the same transaction. This effect (``calls.dial``) runs once that
transaction has committed -- at once in the process that placed the call, whose
runner is woken by the commit -- and:

1. locks the call row and checks it still needs dialing (``queued``, no carrier id),
   then stamps the attempt (``dial_attempted_at``, ``dial_reference`` = the event id)
   and commits: no transaction and no wallet lock is held while the carrier is asked;
2. dials with the event id as the idempotency reference;
3. locks the call again and stores the carrier's id. If the call was hung up in the
   meantime, the carrier's call is hung up too.

A refusal (``ProviderError``) or giving up after the retries moves the call to
``failed`` and releases its hold. A rolled-back placement recorded no event, so
nothing is dialed.

A retry never dials twice. Two workers cannot both pass step 1: the row lock makes
the second see the first's stamp. What remains is a worker that dies (or times out)
after the carrier accepted the call and before step 3: its outcome is unknown. With
a carrier that honours idempotency keys (``repeatable_dial``; the simulator), the
retry dials again with the same reference and gets the same call. With one that
does not (Twilio), the call is never dialed again: the carrier's status callbacks
name our call id (``?call=`` in the callback URL), so the call is adopted by its
first callback, within a second or so of the carrier accepting it; if no callback
arrives by the last retry the call fails and its hold is released. Only a call the
carrier accepted but never reports about could then run unbilled -- and a callback
for a call already given up on hangs that call up.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.engine import Dialect

from commbase.calls import events, lifecycle
from commbase.calls.enums import ActionKind, CallStatus, EndReason, EventSource
from commbase.calls.models import Call
from commbase.calls.providers import CallProvider, Dialed, DialNotSent, ProviderError, carriers_of
from commbase.calls.providers.base import ProviderEvent
from commbase.core.db import Database, after_commit
from commbase.core.driver import DriverStatement, pooled
from commbase.core.effects import EffectContext, effect
from commbase.core.errors import NotFound
from commbase.core.indexes import unindexed
from commbase.core.loaded import as_loaded, attribute_names
from commbase.core.outbox import ClaimedEvent
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.calls.dialing")
CONSUMER = "calls.dial"
MAX_ATTEMPTS = 6
RETRY_AFTER_S = (2, 5, 15, 30, 60)


class DialOutcomeUnknown(Exception):
    """An earlier attempt may have reached a carrier that cannot be asked twice."""


async def _fail(database: Database, *, org_id: str, call_id: str, error: str) -> None:
    """Move a call that was never dialed to ``failed``, releasing its hold."""
    async with database.sessionmaker() as session:
        try:
            call = await lifecycle.load_for_update(session, org_id=org_id, call_id=call_id)
        except NotFound:
            return
        if call.provider_call_id is None and not lifecycle.is_final(call.status):
            await lifecycle.apply_event(
                session,
                call=call,
                event=ProviderEvent(
                    status=CallStatus.FAILED,
                    occurred_at=utcnow(),
                    end_reason=EndReason.FAILED,
                    details={"error": error[:500]},
                ),
                source=EventSource.DIAL,
            )
        await session.commit()


_CALLS: Table = Call.__table__  # type: ignore[assignment]


class _Sent:
    """The dial's one-statement steps (the stamp, undoing it, storing the carrier's
    id) compiled for the driver (PostgreSQL): each is sent on a pooled connection
    outside any transaction (``core.driver.pooled``), committing on its own -- one
    round trip instead of three (BEGIN, the statement, COMMIT), and no session."""

    __slots__ = ("stamp", "store", "unstamp")

    def __init__(self, dialect: Dialect) -> None:
        self.stamp = DriverStatement(_STAMP_FIRST_ATTEMPT_ROW, dialect)
        self.unstamp = DriverStatement(_UNSTAMP, dialect)
        self.store = DriverStatement(_STORE_CARRIER_ID, dialect)


_SENT: weakref.WeakKeyDictionary[Database, _Sent] = weakref.WeakKeyDictionary()


def _sent(database: Database) -> _Sent | None:
    """The statements sent to the driver on PostgreSQL; None on SQLite, whose steps
    run in a session."""
    if database.dialect != "postgresql":
        return None
    sent = _SENT.get(database)
    if sent is None:
        sent = _SENT[database] = _Sent(database.engine.dialect)
    return sent


# What the dial reads of the call it stamps (and what a provider's ``dial`` may read:
# ``CallProvider.dial``): the stamp returns these columns only, not all 71 of a call
# (its JSON documents decoded, each value set on the call, for nothing).
DIALED_COLUMNS = (
    "id",
    "org_id",
    "kind",
    "direction",
    "status",
    "provider",
    "provider_call_id",
    "provider_state",
    "from_number",
    "to_number",
    "to_number_formatted",
    "caller_id_name",
    "privacy_mode",
    "recording_enabled",
    "live_agent",
    "live_audio",
    "max_duration_seconds",
    "dial_attempted_at",
    "dial_reference",
)
_DIALED_ATTRIBUTES = tuple(attribute_names(Call)[name] for name in DIALED_COLUMNS)


def _detached(row: Sequence[Any]) -> Call:
    """The call a returned row is, outside any session, its ``DIALED_COLUMNS`` set as
    if loaded (without the ORM's loading and change tracking): what the dial reads.
    Reading another column of it raises (``DetachedInstanceError``)."""
    return as_loaded(Call, dict(zip(_DIALED_ATTRIBUTES, row, strict=True)))


# Step 1's usual case, a call never tried: one conditional UPDATE locks and stamps it
# and returns what the dial reads (built once; all of the row for the ORM on SQLite).
# It leaves ``updated_at`` as it is: the stamp is the dialer's own bookkeeping (no
# client or metric reads it), and an UPDATE that changes no indexed column stays on
# the row's page (HOT, ``Call``'s indexes). Like every UPDATE here it finds the call
# by its primary key only: the organization and the status are checked on the row
# (``unindexed``; each leads or ends an index).
_STAMP = (
    update(_CALLS)
    .where(
        unindexed(_CALLS.c.org_id) == bindparam("b_org_id"),
        _CALLS.c.id == bindparam("call_id"),
        unindexed(_CALLS.c.status) == CallStatus.QUEUED,
        _CALLS.c.provider_call_id.is_(None),
        _CALLS.c.dial_attempted_at.is_(None),
    )
    .values(
        dial_attempted_at=bindparam("b_dial_attempted_at"),
        dial_reference=bindparam("b_dial_reference"),
        updated_at=_CALLS.c.updated_at,
    )
)
_STAMP_FIRST_ATTEMPT_ROW = _STAMP.returning(*(_CALLS.c[name] for name in DIALED_COLUMNS))
_STAMP_FIRST_ATTEMPT = select(Call).from_statement(_STAMP.returning(*_CALLS.c))
# Undoes a stamp that committed alone when the call's provider cannot be used.
_UNSTAMP = (
    update(_CALLS)
    .where(
        unindexed(_CALLS.c.org_id) == bindparam("b_org_id"),
        _CALLS.c.id == bindparam("call_id"),
        _CALLS.c.dial_reference == bindparam("b_dial_reference"),
        _CALLS.c.provider_call_id.is_(None),
    )
    .values(dial_attempted_at=None, dial_reference=None, updated_at=_CALLS.c.updated_at)
)


async def _claim(ctx: EffectContext, event: ClaimedEvent) -> tuple[Call, CallProvider] | None:
    """Step 1: the call and its provider if it still needs dialing, stamped with this
    attempt; None if there is nothing to dial.

    A call never tried is stamped by one conditional ``UPDATE ... RETURNING`` (which
    locks its row as ``load_for_update`` would; a provider that cannot be used rolls
    the stamp back); any other call is locked, read and checked. On PostgreSQL the
    stamp commits on its own (``_sent``), and is undone if the provider cannot
    be used."""
    stamp = {
        "b_org_id": event.org_id,
        "call_id": str(event.payload["id"]),
        "b_dial_attempted_at": utcnow(),
        "b_dial_reference": event.event_id,
    }
    if (sent := _sent(ctx.database)) is not None:
        async with pooled(ctx.database.engine) as driver:
            record = await driver.fetchrow(sent.stamp.sql, *sent.stamp.arguments(stamp))
            if record is not None:
                call = _detached(sent.stamp.row(record))
                try:
                    provider = carriers_of(ctx.services).get(call.provider)
                except Exception:  # ProviderError, or any other: the stamp must not stay
                    await driver.execute(sent.unstamp.sql, *sent.unstamp.arguments(stamp))
                    raise
                return call, provider
    async with ctx.database.sessionmaker() as session:
        stamped = None if sent is not None else await session.scalar(_STAMP_FIRST_ATTEMPT, stamp)
        if stamped is not None:
            provider = carriers_of(ctx.services).get(stamped.provider)
            await session.commit()
            return stamped, provider
        try:
            call = await lifecycle.load_for_update(
                session, org_id=event.org_id, call_id=str(event.payload["id"])
            )
        except NotFound:  # erased before it was dialed
            return None
        if call.status != CallStatus.QUEUED or call.provider_call_id is not None:
            return None
        provider = carriers_of(ctx.services).get(call.provider)
        if call.dial_attempted_at is not None and not provider.repeatable_dial:
            raise DialOutcomeUnknown(
                f"an attempt at {call.dial_attempted_at.isoformat()} may have reached "
                f"{call.provider}; waiting for its status callback instead of dialing again"
            )
        call.dial_attempted_at = utcnow()
        call.dial_reference = event.event_id
        await session.commit()
        return call, provider


# Built once, on the table (an ORM-enabled UPDATE costs more CPU than its round trip).
_STORE_CARRIER_ID = (
    update(_CALLS)
    .where(
        unindexed(_CALLS.c.org_id) == bindparam("b_org_id"),
        _CALLS.c.id == bindparam("call_id"),
        _CALLS.c.provider_call_id.is_(None),
    )
    .values(
        provider_call_id=bindparam("b_provider_call_id"),
        provider_state=bindparam("b_provider_state"),
        updated_at=bindparam("b_updated_at"),  # its onupdate, for the driver too
    )
    .returning(_CALLS.c.status)
)


async def _record(
    ctx: EffectContext, *, call_id: str, org_id: str, provider: CallProvider, dialed: Dialed
) -> None:
    """Step 3: store the carrier's id; hang up a call that was ended meanwhile.

    The usual case, no id stored yet, is one conditional ``UPDATE ... RETURNING``
    (it locks the row as ``load_for_update`` would; on PostgreSQL it commits on its
    own, ``_sent``); a call that has an id already (adopted by a callback, a
    retry) or is gone is read and checked as before."""
    store = {
        "b_org_id": org_id,
        "call_id": call_id,
        "b_provider_call_id": dialed.provider_call_id,
        "b_provider_state": dialed.state,
        "b_updated_at": utcnow(),
    }
    if (sent := _sent(ctx.database)) is not None:
        async with pooled(ctx.database.engine) as driver:
            status = await driver.fetchval(sent.store.sql, *sent.store.arguments(store))
        if status is not None:
            if lifecycle.is_final(status):  # ended meanwhile: its id is stored, hang up
                async with ctx.database.sessionmaker() as session:
                    call = await lifecycle.load_for_update(session, org_id=org_id, call_id=call_id)
                    await session.commit()
                await hang_up(provider, call)
            return
    async with ctx.database.sessionmaker() as session:
        status = None if sent is not None else await session.scalar(_STORE_CARRIER_ID, store)
        if status is not None:
            if lifecycle.is_final(status):
                call = await lifecycle.load_for_update(session, org_id=org_id, call_id=call_id)
                after_commit(session, lambda: hang_up(provider, call))
            await session.commit()
            return
        try:
            call = await lifecycle.load_for_update(session, org_id=org_id, call_id=call_id)
        except NotFound:
            return
        if call.provider_call_id is None:
            call.provider_call_id = dialed.provider_call_id
            call.provider_state = dialed.state
        elif call.provider_call_id != dialed.provider_call_id:
            log.error(
                "carrier returned another call for a dialed call",
                call_id=call.id,
                stored=call.provider_call_id,
                returned=dialed.provider_call_id,
            )
        if lifecycle.is_final(call.status):
            after_commit(session, lambda: hang_up(provider, call))
        await session.commit()


async def hang_up(provider: CallProvider, call: Call) -> None:
    """Best effort: end a carrier's call that commbase no longer wants."""
    try:
        await provider.act(call=call, action=ActionKind.HANGUP, parameters={})
    except Exception as exc:  # logged for the operator; the call row is already final
        log.error("could not hang up an unwanted call", call_id=call.id, error=repr(exc))


async def dial_queued_call(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Dial a committed, still queued call once (see the module docstring)."""
    try:
        claimed = await _claim(ctx, event)
    except ProviderError as exc:  # the provider cannot be used (e.g. not configured)
        await _fail(
            ctx.database, org_id=event.org_id, call_id=str(event.payload["id"]), error=str(exc)
        )
        return
    if claimed is None:
        return
    call, provider = claimed
    try:
        dialed = await provider.dial(
            call=call, allowed_s=call.max_duration_seconds, reference=event.event_id
        )
    except ProviderError as exc:
        log.info("carrier refused a call", call_id=call.id, error=str(exc))
        await _fail(ctx.database, org_id=call.org_id, call_id=call.id, error=str(exc))
        return
    except DialNotSent:
        await _forget_attempt(ctx.database, call=call)
        raise
    await _record(ctx, call_id=call.id, org_id=call.org_id, provider=provider, dialed=dialed)


async def _forget_attempt(database: Database, *, call: Call) -> None:
    """The carrier was never reached: the next attempt may dial."""
    async with database.sessionmaker() as session:
        locked = await lifecycle.load_for_update(session, org_id=call.org_id, call_id=call.id)
        if locked.dial_reference == call.dial_reference:
            locked.dial_attempted_at = None
        await session.commit()


async def give_up(ctx: EffectContext, event: ClaimedEvent, error: str) -> None:
    """After the last attempt: the call fails and its hold is released."""
    await _fail(
        ctx.database,
        org_id=event.org_id,
        call_id=str(event.payload["id"]),
        error=f"could not dial: {error}",
    )


effect(
    CONSUMER,
    event_types=[events.CALL_QUEUED],
    max_attempts=MAX_ATTEMPTS,
    retry_after_s=RETRY_AFTER_S,
    on_give_up=give_up,
)(dial_queued_call)
