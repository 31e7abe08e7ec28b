"""A phone call placed on PostgreSQL in one statement that commits on its own.

The statement that stores the call (``calls.storing``'s INSERT and its ``call.queued``
outbox rows) takes its ``hold_amount`` from the placement's gate, the function
``commbase_place_call_gate`` (migration 0062): it locks the paying wallet's row,
counts the credential's calls in progress (and an agent session's calls of the last
hour) with snapshots taken once the lock is held, and takes the hold. A refusal raises
inside the statement, so nothing of it stays: no call, no event, no hold.

The statement runs on a pooled connection outside any transaction
(``core.driver.pooled``), after the request's session has committed what it read:
the wallet stays locked for the statement's own run, where a transaction would keep
it locked until its COMMIT came back through the request's event loop, and every
placement on the wallet queued behind that. (The session's connection goes back to
the pool first: a request never holds two.)

The hold is worked out from the wallet as the placement read it, without a lock
(``callers.placing_for``): when the wallet moved meanwhile and no longer covers it, the
gate answers with the balances it found, and the placement works the hold out again.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import column

from commbase.billing import holds
from commbase.billing.enums import WalletStatus
from commbase.billing.holds import Hold
from commbase.billing.models import Wallet
from commbase.calls import events, lifecycle
from commbase.calls.callers import Caller
from commbase.calls.concurrency import InProgress, over_call_rate
from commbase.calls.enums import ACTIVE_STATUSES
from commbase.calls.models import Call
from commbase.calls.storing import INSERT_WITH_EVENTS, row_of
from commbase.core import outbox
from commbase.core.driver import DriverStatement, pooled
from commbase.core.errors import Conflict, PaymentRequired
from commbase.core.time import utcnow

_WALLETS = Wallet.__table__
_TIME = _WALLETS.c.updated_at.type
_BALANCES = ("balance", "held", "balance_minutes", "held_minutes", "updated_at")

# The function's parameters, in its order (migration 0062).
_PARAMETERS = (
    ("g_wallet_id", String),
    ("g_wallet_status", String),
    ("g_amount", BigInteger),
    ("g_package", Integer),
    ("g_now", _TIME),
    ("g_org_id", String),
    ("g_statuses", ARRAY(String)),
    ("g_owner", String),
    ("g_owner_id", String),
    ("g_limit", Integer),
    ("g_call_id", String),
    ("g_agent_session_id", String),
    ("g_calls_per_hour", Integer),
    ("g_hour_ago", _TIME),
)
_GATE = select(
    *func.commbase_place_call_gate(*(bindparam(name, type_=kind) for name, kind in _PARAMETERS))
    .table_valued(
        column("amount", BigInteger),
        *(column(name, _WALLETS.c[name].type) for name in _BALANCES),
    )
    .c
).cte("gate")
# The call's hold_amount is the gate's: the INSERT's row is built once the gate ran.
_STORE = (
    INSERT_WITH_EVENTS.values(
        {Call.__table__.c.hold_amount: select(_GATE.c.amount).scalar_subquery()}
    )
    .add_cte(_GATE)
    .returning(*(select(_GATE.c[name]).scalar_subquery() for name in _BALANCES))
)
_STATUSES = sorted(str(status) for status in ACTIVE_STATUSES)
_COMPILED: weakref.WeakKeyDictionary[Dialect, DriverStatement] = weakref.WeakKeyDictionary()


def engine_of(session: AsyncSession) -> AsyncEngine | None:
    """The PostgreSQL engine the session's transactions run on, if the gate can store
    its calls there; None elsewhere (SQLite, a session bound to one connection)."""
    bind = session.bind
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        return bind
    return None


class WalletMoved(Exception):
    """The wallet no longer covers the hold worked out from an earlier read; ``wallet``
    now shows the balances the gate found."""


@dataclass(frozen=True, slots=True)
class Gate:
    """What the gate checks a placement against: its caller's calls in progress, its
    agent session's calls per hour, and the hold on its wallet."""

    in_progress: InProgress
    caller: Caller
    wallet: Wallet
    hold: Hold

    def parameters(self, call_id: str) -> dict[str, Any]:
        now = utcnow()
        agent = self.caller.agent
        return {
            "g_wallet_id": self.wallet.id,
            "g_wallet_status": WalletStatus.ACTIVE,
            "g_amount": self.hold.amount,
            "g_package": self.hold.minutes,
            "g_now": now,
            "g_org_id": self.in_progress.org_id,
            "g_statuses": _STATUSES,
            "g_owner": self.in_progress.owner,
            "g_owner_id": self.in_progress.owner_id,
            "g_limit": self.in_progress.limit,
            "g_call_id": call_id,
            "g_agent_session_id": self.caller.agent_session_id,
            "g_calls_per_hour": (agent.calls_per_hour or None) if agent is not None else None,
            "g_hour_ago": now - timedelta(hours=1),
        }

    def refusal(self, message: str, detail: str | None) -> Exception | None:
        """The error a refusal raised by the gate stands for; None for any other."""
        reason = message.split(" ", 1)[0]
        if reason == "commbase:calls_in_progress":
            return self.in_progress.refusal()
        if reason == "commbase:call_rate":
            per_hour = self.caller.agent.calls_per_hour if self.caller.agent else 0
            return over_call_rate(per_hour)
        if reason == "commbase:wallet_inactive":
            return PaymentRequired("The wallet paying for this caller is not active")
        if reason == "commbase:wallet_moved" and detail:
            for name, value in zip(_BALANCES, detail.split(), strict=False):
                set_committed_value(self.wallet, name, int(value))
            return WalletMoved()
        return None


def busy() -> Conflict:
    """The answer when the wallet stays busy: a 409 the client retries (an
    Idempotency-Key's answer is not kept for it)."""
    return Conflict("The wallet is busy with other placements; retry", headers={"Retry-After": "1"})


async def store(session: AsyncSession, engine: AsyncEngine, call: Call, gate: Gate) -> None:
    """Store the transient ``call`` and its ``call.queued`` event if ``gate`` lets it
    through, committed; ``session``'s transaction commits first (it has only read).

    RateLimited or PaymentRequired as the gate refuses, Conflict (:func:`busy`) when the
    wallet stayed locked for the gate's ``lock_timeout``; WalletMoved when the hold
    must be worked out again; IntegrityError as a flush would raise it. A client gone
    while the statement waits has it cancelled (``core.db.CLIENT_CHECK_MS``)."""
    statement = _COMPILED.get(engine.dialect)
    if statement is None:
        statement = _COMPILED[engine.dialect] = DriverStatement(_STORE, engine.dialect)
    row = row_of(call)
    payload = lifecycle.call_payload(call)
    recorded = outbox.events_parameters(
        None, [(events.CALL_QUEUED, payload, utcnow())], org_id=call.org_id
    )
    arguments = statement.arguments({**row, **recorded, **gate.parameters(call.id)})
    await session.commit()
    async with pooled(engine) as driver:
        try:
            record = await driver.fetchrow(statement.sql, *arguments)
        except Exception as exc:
            sqlstate = getattr(exc, "sqlstate", None)
            if sqlstate == "P0001":
                message, detail = getattr(exc, "message", ""), getattr(exc, "detail", None)
                refused = gate.refusal(str(message), detail)
                if refused is not None:
                    raise refused from exc
            if sqlstate == "55P03":  # lock_not_available: the gate's lock_timeout
                raise busy() from exc
            if isinstance(sqlstate, str) and sqlstate.startswith("23"):
                raise IntegrityError(statement.sql, None, exc) from exc
            raise
    holds.show_taken(gate.wallet, statement.row(record))
    await outbox.announce()
