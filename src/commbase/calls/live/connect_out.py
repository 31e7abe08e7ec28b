"""Connect-out mode: commbase dials the agent's own ``wss://`` URL (configured on a
phone number, ``answer_mode`` connect) and speaks the agent protocol over it, exactly
as if the agent had attached to ``/v1/calls/{id}/live``.

The handshake is signed so the agent can tell commbase from anyone else:

    X-Commbase-Call:       call_...
    X-Commbase-Timestamp:  1764345600            (Unix seconds)
    X-Commbase-Signature:  v1=<hex HMAC-SHA256(secret, "<timestamp>.<call id>.<url>")>

``url`` is the exact URL commbase connected to. An agent recomputes the HMAC with
its secret (``verify_handshake`` is the reference), compares in constant time and
refuses timestamps more than five minutes away from its clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from commbase.calls.live import protocol, service
from commbase.calls.live.agent_session import AgentSession
from commbase.calls.live.bus import Side
from commbase.calls.live.context import LiveContext
from commbase.calls.live.seats import REPLACED_FRAME

log = structlog.get_logger("commbase.calls.live")
CALL_HEADER = "X-Commbase-Call"
TIMESTAMP_HEADER = "X-Commbase-Timestamp"
SIGNATURE_HEADER = "X-Commbase-Signature"
TOLERANCE_S = 300
OPEN_TIMEOUT_S = 10.0


def sign_handshake(secret: str, *, call_id: str, url: str, timestamp: int) -> str:
    message = f"{timestamp}.{call_id}.{url}".encode()
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def handshake_headers(
    secret: str, *, call_id: str, url: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        CALL_HEADER: call_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_handshake(secret, call_id=call_id, url=url, timestamp=timestamp),
    }


def verify_handshake(secret: str, *, headers: Any, url: str, now: float | None = None) -> bool:
    """What an agent checks on commbase's connection (``headers``: a mapping)."""
    try:
        call_id = str(headers[CALL_HEADER])
        timestamp = int(headers[TIMESTAMP_HEADER])
        signature = str(headers[SIGNATURE_HEADER])
    except (KeyError, TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_S:
        return False
    expected = sign_handshake(secret, call_id=call_id, url=url, timestamp=timestamp)
    return hmac.compare_digest(expected, signature)


class WebsocketsTransport:
    """A ``websockets`` client connection as the live channel's agent transport."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def receive(self) -> str | bytes | None:
        try:
            return await self.connection.recv()
        except ConnectionClosed:
            return None

    async def send(self, data: bytes) -> None:
        await self.connection.send(data.decode())

    async def close(self, code: int, reason: str = "") -> None:
        await self.connection.close(code, reason)


async def connect_out(ctx: LiveContext, *, org_id: str, call_id: str, url: str, secret: str) -> str:
    """Connect the call to the agent at ``url`` and relay until either side ends;
    returns why it stopped (``not_live``, ``unreachable`` or the session's reason)."""
    call = await service.find_call(ctx.database, call_id=call_id, org_id=org_id)
    if call is None or call.final:
        return "not_live"
    headers = handshake_headers(secret, call_id=call.id, url=url)
    tls: dict[str, Any] = {"ssl": ctx.connect_ssl} if ctx.connect_ssl and url[:4] == "wss:" else {}
    # Commbase holds the call's agent seat for the number's agent (``seats``).
    taken = await ctx.bus.seats.take(call.id, "connect-out")
    if taken.token is None:
        log.warning("live call already has an agent", call_id=call.id)
        return "agent_attached"
    if taken.replaced is not None:  # started again for this call: the older one stops
        await ctx.bus.publish(
            call.id, Side.AGENT, protocol.frame(REPLACED_FRAME, seat=taken.replaced)
        )
    try:
        return await _relay(ctx, call=call, url=url, headers=headers, tls=tls, seat=taken.token)
    finally:
        await ctx.bus.seats.leave(call.id, taken.token)


async def _relay(
    ctx: LiveContext,
    *,
    call: service.LiveCall,
    url: str,
    headers: dict[str, str],
    tls: dict[str, Any],
    seat: str,
) -> str:
    async with ctx.bus.mailbox(call.id, Side.AGENT) as inbox:
        try:
            connection = await connect(
                url,
                additional_headers=headers,
                open_timeout=OPEN_TIMEOUT_S,
                max_size=protocol.MAX_FRAME_BYTES * 2,
                **tls,
            )
        except (TimeoutError, OSError, InvalidHandshake) as exc:
            log.warning("live agent unreachable", call_id=call.id, error=str(exc)[:200])
            return "unreachable"
        async with connection:
            await service.record_connection(ctx.database, call, side="agent", connected=True)
            session = AgentSession(
                ctx,
                call=call,
                transport=WebsocketsTransport(connection),
                inbox=inbox,
                seat=seat,
            )
            reason = "agent_closed"
            try:
                reason = await session.run()
            finally:
                await service.record_connection(
                    ctx.database, call, side="agent", connected=False, reason=reason
                )
                await session.close(reason)
            return reason


def start_connect_out(
    app: Any, *, org_id: str, call_id: str, url: str, secret: str
) -> asyncio.Task[str]:
    """Run ``connect_out`` in the background of this process (e.g. when a call to a
    connect-mode number is answered)."""
    ctx = LiveContext.of(app)
    return asyncio.create_task(
        connect_out(ctx, org_id=org_id, call_id=call_id, url=url, secret=secret),
        name=f"live-connect-out-{call_id}",
    )
