"""When commbase connects out: a call routed to a connect-mode number (``answer_mode``
connect) is bridged to the number's agent as soon as it is answered.

* A simulated inbound call is answered at once: the connection starts once the
  transaction that stored the call has committed (``after_commit``), so the agent's
  session reads the call as everyone else will.
* A Twilio call is answered when ConversationRelay's socket reaches commbase
  (``live.routes``): the connection starts then, in the process holding that socket.

An agent that cannot be reached (refused handshake, timeout) gets its call hung up.

The handshake is signed with the number's secret (``phone_numbers.connect_secrets``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.inbound.enums import InboundRoute
from commbase.calls.inbound.service import STATE_KEY
from commbase.calls.live import service
from commbase.calls.live.connect_out import connect_out
from commbase.calls.live.context import LiveContext
from commbase.calls.models import Call
from commbase.calls.phone_numbers.enums import AnswerMode
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.calls.phone_numbers.service import connect_secret
from commbase.core.db import after_commit

log = structlog.get_logger("commbase.calls.live")
TASKS_KEY = "live_connect_out_tasks"


async def connect_target(ctx: LiveContext, *, org_id: str, call_id: str) -> tuple[str, str] | None:
    """(agent URL, handshake secret) when the call was routed to a connect number."""
    async with ctx.database.sessionmaker() as session:
        call = await session.scalar(select(Call).where(Call.org_id == org_id, Call.id == call_id))
        state: dict[str, Any] = ((call.provider_state or {}) if call else {}).get(STATE_KEY) or {}
        if state.get("route") != InboundRoute.CONNECT or not state.get("number_id"):
            return None
        number = await session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.org_id == org_id, PhoneNumber.id == state["number_id"]
            )
        )
    url = state.get("connect_url") or (number.connect_url if number else None)
    if number is None or number.answer_mode != AnswerMode.CONNECT or not url:
        return None
    secret = connect_secret(number, settings=ctx.settings)
    if secret is None:
        log.warning("connect number without a handshake secret", number_id=number.id)
        return None
    return str(url), secret


async def _bridge(ctx: LiveContext, *, org_id: str, call_id: str, url: str, secret: str) -> str:
    """``connect_out``; a call whose agent cannot be reached is hung up through its
    carrier rather than left in silence (nothing else would bound it)."""
    reason = await connect_out(ctx, org_id=org_id, call_id=call_id, url=url, secret=secret)
    if reason == "unreachable":
        call = await service.find_call(ctx.database, call_id=call_id, org_id=org_id)
        if call is not None and not call.final:
            await service.hang_up(ctx.database, carriers=ctx.carriers, call=call)
    return reason


async def start_if_connect(app: Any, *, org_id: str, call_id: str) -> asyncio.Task[str] | None:
    """Connect the call to its number's agent in the background, if it has one."""
    ctx = LiveContext.of(app)
    target = await connect_target(ctx, org_id=org_id, call_id=call_id)
    if target is None:
        return None
    url, secret = target
    task = asyncio.create_task(
        _bridge(ctx, org_id=org_id, call_id=call_id, url=url, secret=secret),
        name=f"live-connect-out-{call_id}",
    )
    # Held until done: the event loop keeps only a weak reference to a task.
    tasks: set[asyncio.Task[str]] = ctx.services.setdefault(TASKS_KEY, set())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


def start_after_commit(session: AsyncSession, app: Any, *, org_id: str, call_id: str) -> None:
    """``start_if_connect`` once ``session``'s transaction has committed."""

    async def start() -> None:
        await start_if_connect(app, org_id=org_id, call_id=call_id)

    after_commit(session, start)
