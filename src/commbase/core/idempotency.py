"""``Idempotency-Key`` on POST, with Stripe's semantics.

* same key, same credential, same request  -> the stored response, replayed,
  with ``Idempotent-Replayed: true``;
* same key, other method/path/body         -> 422 ``idempotency-key-reused``;
* same key while the first is still running -> 409 ``idempotency-key-in-use``.

Keys are kept ``idempotency_ttl_s`` (24 h). Responses are stored only when the
endpoint ran to a definite answer: 2xx and 4xx other than 401/403/409/422/429.
A 5xx or a crash frees the key so the client can retry.

Freeing a key needs the database, which may be what failed. A process that cannot
write how a request ended keeps trying in the background (every second at most,
for up to ``SETTLE_FOR_S``) until the database is back, and a retry that reaches the
same process meanwhile writes it first, so it runs (or is replayed) instead of
being told 409. A claim names its holder (``claim``) and is renewed every
``RENEW_S`` while its request runs; one left unrenewed for ``LOCK_S`` (its process
died, or lost the database) is taken over by the next retry, in any process.

A response that carries a secret shown once (``Cache-Control: no-store``) is not
stored; a replay of it answers 409 instead of issuing a second secret.

This record lives in transactions of its own: the key is claimed, the endpoint runs
and commits, then the response is stored. On its own it cannot make a write happen
once: a process that dies between the endpoint's commit and the stored response, or
a request whose claim could not be renewed for ``LOCK_S``, lets a retry run the
endpoint again. Writes that move money or place calls therefore also store the key
with what they create (DESIGN rule 12): the service puts ``request_key(request)`` --
the key scoped to the credential -- on its row under a unique constraint, in the same
transaction, and a retry whose key matches an existing row answers with that row
instead of acting again (calls: ``calls.idempotency_key``; top-ups: the ledger's key).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commbase.core.db import Base, Database, JSONType, database_unavailable, rowcount
from commbase.core.http import client_of, header
from commbase.core.problems import problem_response
from commbase.core.renewal import renewed
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.idempotency")
HEADER = b"idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
# A claim not renewed for LOCK_S belongs to a request that is gone; a running request
# renews its claim every RENEW_S.
LOCK_S = 10
RENEW_S = 3
# How long a process keeps trying to record how a request ended while the database is
# away, and how many such endings it holds at most (the oldest are dropped first).
SETTLE_FOR_S = 300
MAX_UNSETTLED = 10_000
_NOT_STORED = {401, 403, 409, 422, 429}


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope_hash", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scope_hash: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # Filled in once the request has run and its organization is known.
    org_id: Mapped[str | None] = mapped_column(String(40), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | completed | withheld
    # Who holds the claim: a random token per attempt, so that only that attempt
    # records its end, and a stale claim is taken over once.
    claim: Mapped[str | None] = mapped_column(String(32))
    # When the claim was taken or last renewed.
    locked_at: Mapped[datetime]
    response_status: Mapped[int | None]
    response_headers: Mapped[list[str] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


@dataclass(frozen=True, slots=True)
class _Ending:
    """How a request with a key ended: what its record must say (or that it goes)."""

    scope_hash: str
    key: str
    claim: str
    status: int  # 500 when the endpoint raised
    headers: list[str] = field(default_factory=list)
    body: bytes | None = None
    no_store: bool = False
    org_id: str | None = None

    @property
    def frees_key(self) -> bool:
        return self.status >= 500 or self.status in _NOT_STORED


def _ending(
    *, scope_hash: str, key: str, claim: str, captured: dict[str, Any] | None, org_id: str | None
) -> _Ending:
    if captured is None:
        return _Ending(scope_hash, key, claim, 500)
    raw_headers: list[tuple[bytes, bytes]] = captured["headers"]
    no_store = any(
        k.lower() == b"cache-control" and b"no-store" in v.lower() for k, v in raw_headers
    )
    return _Ending(
        scope_hash,
        key,
        claim,
        captured["status"],
        headers=[
            f"{k.decode('latin-1')}:{v.decode('latin-1')}"
            for k, v in raw_headers
            if k.lower() in (b"content-type", b"location")
        ],
        body=None if no_store else bytes(captured["body"]),
        no_store=no_store,
        org_id=org_id,
    )


async def _record_ending(session: AsyncSession, ending: _Ending) -> None:
    """Free the key, or store the response, if ``ending``'s attempt still holds it."""
    where = (
        IdempotencyKey.scope_hash == ending.scope_hash,
        IdempotencyKey.key == ending.key,
        IdempotencyKey.claim == ending.claim,
    )
    if ending.frees_key:
        await session.execute(delete(IdempotencyKey).where(*where))
        return
    await session.execute(
        update(IdempotencyKey)
        .where(*where)
        .values(
            state="withheld" if ending.no_store else "completed",
            org_id=ending.org_id,
            response_status=ending.status,
            response_headers=ending.headers,
            response_body=ending.body,
        )
    )


class IdempotencyMiddleware:
    """Store and replay POST responses that carry an ``Idempotency-Key``."""

    def __init__(self, app: ASGIApp, *, database: Database, ttl_s: int) -> None:
        self.app = app
        self.database = database
        self.ttl = timedelta(seconds=ttl_s)
        # Endings this process could not write yet (the database was away), by key,
        # with the loop time they were first tried at.
        self._unsettled: dict[tuple[str, str], tuple[_Ending, float]] = {}
        self._settler: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, HEADER) if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not (0 < len(key) <= 255) or not key.isprintable() or not key.isascii():
            await problem_response(
                status=400,
                code="invalid-request",
                title="The request is malformed",
                detail="Idempotency-Key must be 1-255 printable ASCII characters",
            )(scope, receive, send)
            return

        body = await _read_body(receive)
        scope_hash = _scope_hash(scope)
        scope["state"]["idempotency_key"] = f"{scope_hash[:32]}:{key}"
        fingerprint = hashlib.sha256(
            b"\0".join(
                [scope["method"].encode(), scope["path"].encode(), scope["query_string"], body]
            )
        ).hexdigest()
        claim = secrets.token_hex(16)

        verdict = await self._begin(
            scope, scope_hash=scope_hash, key=key, fingerprint=fingerprint, claim=claim
        )
        if verdict is not None:
            await verdict(scope, receive, send)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        completed = False
        try:
            renew = partial(self._renew, scope_hash=scope_hash, key=key, claim=claim)
            async with renewed(renew, every_s=RENEW_S, name="idempotency key"):
                await self.app(scope, replay_receive, capture_send)
            completed = True
        finally:
            await self._finish(
                _ending(
                    scope_hash=scope_hash,
                    key=key,
                    claim=claim,
                    captured=captured if completed else None,
                    org_id=getattr(scope["state"].get("principal"), "org_id", None),
                )
            )

    async def _begin(
        self, scope: Scope, *, scope_hash: str, key: str, fingerprint: str, claim: str
    ) -> Response | None:
        """Claim the key, or return the response that answers instead of running."""
        async with self.database.sessionmaker() as session:
            unsettled = self._unsettled.get((scope_hash, key))
            if unsettled is not None:
                # This process knows how the key's last attempt ended: record it first.
                await _record_ending(session, unsettled[0])
                await session.commit()
                self._settled(unsettled[0])
            now = utcnow()
            existing = await session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.scope_hash == scope_hash, IdempotencyKey.key == key
                )
            )
            if existing is not None and existing.expires_at <= now:
                await session.delete(existing)
                await session.flush()
                existing = None
            if existing is None:
                session.add(
                    IdempotencyKey(
                        scope_hash=scope_hash,
                        key=key,
                        fingerprint=fingerprint,
                        method=scope["method"],
                        path=scope["path"][:2048],
                        state="in_progress",
                        claim=claim,
                        locked_at=now,
                        created_at=now,
                        expires_at=now + self.ttl,
                    )
                )
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                    return _in_use()
                return None
            if existing.fingerprint != fingerprint:
                return problem_response(
                    status=422,
                    code="idempotency-key-reused",
                    title="This Idempotency-Key was used with a different request",
                    detail=(
                        f"Key {key!r} was first used for {existing.method} {existing.path} "
                        "with another body; use a new key for a new request"
                    ),
                )
            if existing.state == "in_progress":
                if existing.locked_at > now - timedelta(seconds=LOCK_S):
                    return _in_use()
                # Nobody renewed the claim: its process died or lost the database.
                # Take it over, unless another retry just did.
                taken = await session.execute(
                    update(IdempotencyKey)
                    .where(
                        IdempotencyKey.id == existing.id,
                        IdempotencyKey.state == "in_progress",
                        IdempotencyKey.locked_at == existing.locked_at,
                    )
                    .values(claim=claim, locked_at=now)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
                return None if rowcount(taken) == 1 else _in_use()
            if existing.state == "withheld":
                return problem_response(
                    status=409,
                    code="idempotency-key-in-use",
                    title="A request with this Idempotency-Key already ran",
                    detail=(
                        "The first response carried a secret that is shown only once, "
                        "so it is not replayed; the request was not repeated"
                    ),
                    headers={REPLAYED_HEADER: "true"},
                )
            return _replay(existing)

    async def _renew(self, *, scope_hash: str, key: str, claim: str) -> None:
        """Keep this attempt's claim fresh while its request runs."""
        async with self.database.sessionmaker() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.scope_hash == scope_hash,
                    IdempotencyKey.key == key,
                    IdempotencyKey.claim == claim,
                    IdempotencyKey.state == "in_progress",
                )
                .values(locked_at=utcnow())
            )
            await session.commit()

    async def _finish(self, ending: _Ending) -> None:
        """Record how the request ended; if the database is away, keep trying."""
        try:
            async with self.database.sessionmaker() as session:
                await _record_ending(session, ending)
                await session.commit()
        except Exception as exc:
            if not database_unavailable(exc):
                # The claim expires after LOCK_S; a retry then takes it over.
                log.error("idempotency key not recorded", key=ending.key, error=repr(exc))
                return
            log.warning(
                "idempotency key recorded later: the database is unavailable",
                key=ending.key,
                status=ending.status,
            )
            self._keep(ending)

    def _keep(self, ending: _Ending) -> None:
        """Hold ``ending`` until the database takes it, trying in the background."""
        while len(self._unsettled) >= MAX_UNSETTLED:
            oldest = next(iter(self._unsettled))
            log.error("idempotency key left to expire: too many unrecorded", key=oldest[1])
            del self._unsettled[oldest]
        loop = asyncio.get_running_loop()
        self._unsettled[(ending.scope_hash, ending.key)] = (ending, loop.time())
        if self._settler is None or self._settler.done():
            self._settler = loop.create_task(self._settle(), name="idempotency settler")

    def _settled(self, ending: _Ending) -> None:
        held = self._unsettled.get((ending.scope_hash, ending.key))
        if held is not None and held[0] is ending:
            del self._unsettled[(ending.scope_hash, ending.key)]

    async def _settle(self) -> None:
        """Write the held endings as soon as the database answers again."""
        loop = asyncio.get_running_loop()
        delay = 0.25
        while self._unsettled:
            await asyncio.sleep(delay)
            try:
                async with self.database.sessionmaker() as session:
                    for ending, _since in list(self._unsettled.values()):
                        try:
                            await _record_ending(session, ending)
                            await session.commit()
                        except Exception as exc:
                            if database_unavailable(exc):
                                raise
                            await session.rollback()
                            log.error(
                                "idempotency key not recorded", key=ending.key, error=repr(exc)
                            )
                        self._settled(ending)
                delay = 0.25
            except Exception as exc:
                delay = min(delay * 2, 1.0)
                for ending, since in list(self._unsettled.values()):
                    if loop.time() - since > SETTLE_FOR_S:
                        log.error("idempotency key left to expire", key=ending.key)
                        self._settled(ending)
                if not database_unavailable(exc):
                    log.error("idempotency settler failed", error=repr(exc))


def _scope_hash(scope: Scope) -> str:
    credential = header(scope, b"authorization") or f"anon:{client_of(scope['state']).ip}"
    return hashlib.sha256(credential.encode()).hexdigest()


def request_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, scoped to its credential (at most 288
    characters: 32 hex characters of the credential's hash, ``:``, the key), or None
    for requests without one (and for other methods than POST). A service stores it on
    the row it creates, under a unique constraint, so that the effect and its key
    commit together (DESIGN rule 12). The format is stable: stored keys keep matching
    retries across releases."""
    key = request.scope.get("state", {}).get("idempotency_key")
    return str(key) if key else None


def _in_use() -> Response:
    return problem_response(
        status=409,
        code="idempotency-key-in-use",
        title="A request with this Idempotency-Key is in progress",
        detail="Retry once the first request has finished",
        headers={"Retry-After": "1"},
    )


def _replay(record: IdempotencyKey) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    for item in record.response_headers or []:
        name, _, value = item.partition(":")
        headers[name] = value
    media_type = headers.pop("content-type", None)
    return Response(
        content=record.response_body or b"",
        status_code=record.response_status or 200,
        headers=headers,
        media_type=media_type,
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
