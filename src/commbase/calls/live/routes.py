"""The live channel's WebSockets: the agent's (``/v1/calls/{id}/live``) and Twilio's
ConversationRelay (``/v1/providers/twilio/relay/{id}``).

Both refuse before accepting (the handshake answers 403): a missing or bad
credential, a call the agent may not see or that has ended, a forged signature.
While the database or Redis cannot serve, a handshake answers 503 (a problem, with
``Retry-After``), and a socket already accepted is closed with 1013 (try again
later); either is logged once, as a warning. They are Starlette routes, outside
FastAPI's dependencies (which read HTTP bodies).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import cast

import structlog
from fastapi import APIRouter, Request
from redis.exceptions import RedisError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from commbase.calls.live import protocol, service
from commbase.calls.live.agent_session import AgentSession
from commbase.calls.live.bus import Side
from commbase.calls.live.connect_start import start_if_connect
from commbase.calls.live.context import LiveContext
from commbase.calls.live.media_stream import MediaStreamRelay
from commbase.calls.live.protocol import CloseCode
from commbase.calls.live.relay import TwilioRelay
from commbase.calls.live.seats import REPLACED_FRAME
from commbase.calls.live.twiml import RELAY_PATH, STREAM_PATH, relay_url
from commbase.calls.providers.twilio import signature_is_valid
from commbase.core.auth import Authenticator, Principal
from commbase.core.db import database_unavailable
from commbase.core.errors import CommbaseError, Conflict, DatabaseUnavailable, ServiceUnavailable
from commbase.core.http import ClientInfo
from commbase.core.problems import problem_response
from commbase.core.ratelimit import RateLimiter
from commbase.core.scopes import Scope

log = structlog.get_logger("commbase.calls.live")
LIVE_PATH = "/v1/calls/{call_id}/live"
MAX_ID = 40


class StarletteTransport:
    """A Starlette WebSocket as the live channel's transport."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> str | bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        if text is not None:
            return text
        data: bytes | None = message.get("bytes")
        return data if data is not None else b""

    async def send(self, data: bytes) -> None:
        await self.websocket.send_text(data.decode())

    async def close(self, code: int, reason: str = "") -> None:
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.close(code, reason)


async def _principal(websocket: WebSocket, ctx: LiveContext) -> Principal | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    authenticator: Authenticator = websocket.app.state.authenticator
    client = websocket.client
    info = ClientInfo(
        client.host if client else None, None, None, websocket.headers.get("user-agent")
    )
    try:
        async with ctx.database.sessionmaker() as session:
            principal = await authenticator(
                session=session, token=token.strip(), client=info, request=cast(Request, websocket)
            )
            await session.commit()
    except ServiceUnavailable:
        raise  # not a refusal of the credential: answered 503 (``refuse_unavailable``)
    except CommbaseError:
        return None
    limiter: RateLimiter = websocket.app.state.rate_limiter
    result = await limiter.hit(f"{principal.kind}:{principal.credential_id}", principal.rate_limit)
    return principal if result.allowed else None


def _unavailable(exc: BaseException) -> bool:
    """``exc`` says the database or Redis cannot serve now (trying later may work)."""
    return isinstance(exc, ServiceUnavailable | RedisError) or database_unavailable(exc)


async def refuse_unavailable(websocket: WebSocket) -> None:
    """Before the socket is accepted, a 503 problem with ``Retry-After`` (WebSocket
    clients and carriers see a failed handshake they may retry); after, close 1013."""
    if websocket.application_state == WebSocketState.CONNECTING:
        unavailable = DatabaseUnavailable("The database or Redis is unavailable; retry shortly")
        await websocket.send_denial_response(
            problem_response(
                status=unavailable.status,
                code=unavailable.code,
                title=unavailable.title,
                detail=unavailable.detail,
                instance=websocket.url.path,
                headers=unavailable.headers,
            )
        )
    else:
        await StarletteTransport(websocket).close(CloseCode.TRY_AGAIN_LATER, "try again later")


def _refusing_when_unavailable(
    handler: Callable[[WebSocket], Awaitable[None]],
) -> Callable[[WebSocket], Awaitable[None]]:
    """``handler``, answering ``refuse_unavailable`` when the database or Redis fails
    under it (instead of a 500, or a socket dropped without a close code)."""

    async def endpoint(websocket: WebSocket) -> None:
        try:
            await handler(websocket)
        except Exception as exc:
            if not _unavailable(exc):
                raise
            log.warning(
                "live socket refused: a dependency is unavailable",
                path=websocket.url.path,
                accepted=websocket.application_state != WebSocketState.CONNECTING,
                error=repr(exc)[:300],
            )
            await refuse_unavailable(websocket)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def live_agent_socket(websocket: WebSocket) -> None:
    """An agent attaches to its call: ``Authorization: Bearer <agent session or API key>``
    with ``calls:write``."""
    call_id = str(websocket.path_params["call_id"])[:MAX_ID]
    ctx = LiveContext.of(websocket.app)
    principal = await _principal(websocket, ctx)
    if principal is None or not principal.has(Scope.CALLS_WRITE):
        await websocket.close(CloseCode.POLICY)
        return
    try:
        call = await service.attachable_call(ctx.database, principal=principal, call_id=call_id)
    except ServiceUnavailable:
        raise
    except CommbaseError:
        # Another organization's call, another agent session's, or an ended one: the
        # same refusal, so nothing is learnt about calls one may not see.
        await websocket.close(CloseCode.POLICY)
        return
    async with ctx.bus.mailbox(call.id, Side.AGENT) as inbox:
        # One agent per call: the same credential reconnecting takes over (``seats``).
        taken = await ctx.bus.seats.take(call.id, f"{principal.kind}:{principal.credential_id}")
        await websocket.accept()
        if taken.token is None:
            await _refuse_second_agent(websocket)
            return
        if taken.replaced is not None:
            await ctx.bus.publish(
                call.id, Side.AGENT, protocol.frame(REPLACED_FRAME, seat=taken.replaced)
            )
        reason = "agent_closed"
        transport = StarletteTransport(websocket)
        session = AgentSession(ctx, call=call, transport=transport, inbox=inbox, seat=taken.token)
        try:
            await service.record_connection(ctx.database, call, side="agent", connected=True)
            reason = await session.run()
        except WebSocketDisconnect:
            reason = "agent_closed"
        finally:
            await ctx.bus.seats.leave(call.id, taken.token)
            await service.record_connection(
                ctx.database, call, side="agent", connected=False, reason=reason
            )
            await session.close(reason)


async def _refuse_second_agent(websocket: WebSocket) -> None:
    """Another agent is attached: an ``error`` frame with the problem, then 4409."""
    detail = (
        "Another agent is attached to this call; only the same agent (its agent "
        "session or API key) may reconnect, which replaces its old connection"
    )
    problem = {
        "type": f"/problems/{Conflict.code}",
        "title": Conflict.title,
        "status": Conflict.status,
        "detail": detail,
    }
    frame = protocol.frame(
        "error", code="agent_already_attached", detail=detail, errors=[], problem=problem
    )
    await websocket.send_text(frame.decode())
    await StarletteTransport(websocket).close(CloseCode.CALL_NOT_LIVE, "agent already attached")


async def twilio_relay_socket(websocket: WebSocket) -> None:
    """Twilio ConversationRelay for one call, verified with ``X-Twilio-Signature``."""
    await _twilio_socket(websocket, path=RELAY_PATH, audio=False)


async def twilio_stream_socket(websocket: WebSocket) -> None:
    """Twilio Media Streams (audio mode) for one call, verified like ConversationRelay."""
    await _twilio_socket(websocket, path=STREAM_PATH, audio=True)


async def _twilio_socket(websocket: WebSocket, *, path: str, audio: bool) -> None:
    call_id = str(websocket.path_params["call_id"])[:MAX_ID]
    ctx = LiveContext.of(websocket.app)
    settings = ctx.settings
    signature = websocket.headers.get("x-twilio-signature")
    url = relay_url(settings.public_base_url, call_id, path=path)
    if websocket.url.query:
        url += "?" + websocket.url.query
    if (
        not signature
        or settings.twilio_auth_token is None
        or not signature_is_valid(
            auth_token=settings.twilio_auth_token.get_secret_value(),
            url=url,
            params={},
            signature=signature,
        )
    ):
        await websocket.close(CloseCode.POLICY)
        return
    call = await service.find_call(ctx.database, call_id=call_id)
    # A call streams its audio or relays text, as its TwiML said; not the other one.
    if call is None or call.final or call.live_audio != audio:
        await websocket.close(CloseCode.POLICY)
        return
    async with ctx.bus.mailbox(call.id, Side.CARRIER) as inbox:
        await websocket.accept()
        await service.record_connection(
            ctx.database, call, side="carrier", connected=True, carrier="twilio"
        )
        # The call is answered: a connect number's agent is dialled now.
        await start_if_connect(websocket.app, org_id=call.org_id, call_id=call.id)
        reason = "carrier_closed"
        try:
            transport = StarletteTransport(websocket)
            relay: TwilioRelay | MediaStreamRelay = (
                MediaStreamRelay(ctx, call=call, transport=transport, inbox=inbox)
                if audio
                else TwilioRelay(ctx, call=call, transport=transport, inbox=inbox)
            )
            reason = await relay.run()
        except WebSocketDisconnect:
            reason = "carrier_closed"
        finally:
            await service.record_connection(
                ctx.database, call, side="carrier", connected=False, carrier="twilio", reason=reason
            )
            await StarletteTransport(websocket).close(CloseCode.NORMAL)


router = APIRouter()
for _path, _handler, _name in (
    (LIVE_PATH, live_agent_socket, "calls_live"),
    (RELAY_PATH, twilio_relay_socket, "twilio_relay"),
    (STREAM_PATH, twilio_stream_socket, "twilio_stream"),
):
    router.routes.append(WebSocketRoute(_path, _refusing_when_unavailable(_handler), name=_name))
