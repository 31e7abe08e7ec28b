"""``Idempotency-Key`` on POST, with Stripe's semantics.

* same key, same credential, same request  -> the stored response, replayed,
  with ``Idempotent-Replayed: true``;
* same key, other method/path/body         -> 422 ``idempotency-key-reused``;
* same key while the first is still running -> 409 ``idempotency-key-in-use``.

Keys are kept ``idempotency_ttl_s`` (24 h). Responses are stored only when the
endpoint ran to a definite answer: 2xx and 4xx other than 401/403/409/422/429.
A 5xx or a crash frees the key so the client can retry.

A response that carries a secret shown once (``Cache-Control: no-store``) is not
stored; a replay of it answers 409 instead of issuing a second secret.

This record lives in transactions of its own: the key is claimed, the endpoint runs
and commits, then the response is stored. On its own it cannot make a write happen
once: a process that dies between the endpoint's commit and the stored response, or
a request that outlives the 60 s lock, lets a retry run the endpoint again. Writes
that move money or place calls therefore also store the key with what they create
(DESIGN rule 12): the service puts ``request_key(request)`` -- the key scoped to the
credential -- on its row under a unique constraint, in the same transaction, and a
retry whose key matches an existing row answers with that row instead of acting
again (calls: ``calls.idempotency_key``; top-ups: the ledger's key).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commbase.core.db import Base, Database, JSONType
from commbase.core.http import client_of, header
from commbase.core.problems import problem_response
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.idempotency")
HEADER = b"idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
_STALE_LOCK = timedelta(seconds=60)
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
    locked_at: Mapped[datetime]
    response_status: Mapped[int | None]
    response_headers: Mapped[list[str] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class IdempotencyMiddleware:
    """Store and replay POST responses that carry an ``Idempotency-Key``."""

    def __init__(self, app: ASGIApp, *, database: Database, ttl_s: int) -> None:
        self.app = app
        self.database = database
        self.ttl = timedelta(seconds=ttl_s)

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

        verdict = await self._begin(scope, scope_hash=scope_hash, key=key, fingerprint=fingerprint)
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
            await self.app(scope, replay_receive, capture_send)
            completed = True
        finally:
            await self._finish(
                scope_hash=scope_hash,
                key=key,
                captured=captured if completed else None,
                org_id=getattr(scope["state"].get("principal"), "org_id", None),
            )

    async def _begin(
        self, scope: Scope, *, scope_hash: str, key: str, fingerprint: str
    ) -> Response | None:
        """Claim the key, or return the response that answers instead of running."""
        now = utcnow()
        async with self.database.sessionmaker() as session:
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
                if existing.locked_at > now - _STALE_LOCK:
                    return _in_use()
                # The first attempt's process died; this one takes over.
                existing.locked_at = now
                await session.commit()
                return None
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

    async def _finish(
        self, *, scope_hash: str, key: str, captured: dict[str, Any] | None, org_id: str | None
    ) -> None:
        where = (IdempotencyKey.scope_hash == scope_hash, IdempotencyKey.key == key)
        async with self.database.sessionmaker() as session:
            status = captured["status"] if captured else 500
            if status >= 500 or status in _NOT_STORED:
                await session.execute(delete(IdempotencyKey).where(*where))
            else:
                assert captured is not None
                headers = [
                    f"{k.decode('latin-1')}:{v.decode('latin-1')}"
                    for k, v in captured["headers"]
                    if k.lower() in (b"content-type", b"location")
                ]
                no_store = any(
                    k.lower() == b"cache-control" and b"no-store" in v.lower()
                    for k, v in captured["headers"]
                )
                await session.execute(
                    update(IdempotencyKey)
                    .where(*where)
                    .values(
                        state="withheld" if no_store else "completed",
                        org_id=org_id,
                        response_status=status,
                        response_headers=headers,
                        response_body=None if no_store else bytes(captured["body"]),
                    )
                )
            await session.commit()


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
