"""When commbase connects out: a call routed to a connect-mode number (``answer_mode``
connect) is bridged to the number's agent as soon as it is answered.

* A simulated inbound call is answered at once: the connection starts once the
  transaction that stored the call has committed (``after_commit``), so the agent's
  session reads the call as everyone else will.
* A Twilio call is answered when ConversationRelay's socket reaches commbase
  (``live.routes``): the connection starts then, in the process holding that socket.

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
from commbase.calls.live.connect_out import start_connect_out
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


async def start_if_connect(app: Any, *, org_id: str, call_id: str) -> asyncio.Task[str] | None:
    """Connect the call to its number's agent in the background, if it has one."""
    ctx = LiveContext.of(app)
    target = await connect_target(ctx, org_id=org_id, call_id=call_id)
    if target is None:
        return None
    url, secret = target
    task = start_connect_out(app, org_id=org_id, call_id=call_id, url=url, secret=secret)
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
