"""Deliver outbox events to webhook endpoints, signed per Standard Webhooks.

Two steps, each safe for any number of workers (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has one writer at a time anyway):

1. **Fan out**: claim new outbox events for the ``webhooks`` consumer and create
   one delivery per matching endpoint, in the same transaction that marks the
   events done — an event is fanned out exactly once.
2. **Send**: claim due deliveries with a lease (``claimed_by``, and
   ``next_attempt_at`` pushed out by the lease), commit, send them concurrently,
   then record each outcome. A worker killed mid-batch simply lets its lease
   expire; another worker sends those deliveries again. Receivers dedupe on
   ``webhook-id`` (the event id), which is the same on every attempt.

A send is bounded: one deadline (``webhook_timeout_s``) covers resolving,
connecting, sending and reading the answer, of which at most ``READ_LIMIT`` bytes
are read (the first ``BODY_LIMIT`` are kept in the attempt log) before the
connection is closed. Connections go only to addresses the SSRF guard has just
checked (``transport.py``).

Outcomes: a 2xx within the deadline succeeds. 410 disables the endpoint. 429 and
503 retry after ``Retry-After`` (capped at a day). Anything else (another status,
a timeout, an unreachable or refused URL) retries on the endpoint's schedule
(default 60, 300, 900 s); when the schedule is used up the delivery fails. An
endpoint is disabled after ``webhook_disable_after_failures`` (default 10)
deliveries in a row failed for good; a success resets the count.
Either way a ``webhook.endpoint.disabled`` event and an audit entry record it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import orjson
import structlog
from sqlalchemy import insert, select, update
from standardwebhooks.webhooks import Webhook

from commbase import __version__
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.jobs import worker_name
from commbase.core.loops import repeat
from commbase.core.time import utcnow
from commbase.identity import audit
from commbase.settings import Settings
from commbase.webhooks import events, secrets
from commbase.webhooks.enums import AttemptOutcome, DeliveryStatus, EndpointStatus
from commbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from commbase.webhooks.service import envelope, receives
from commbase.webhooks.ssrf import Resolver, UnsafeUrl, parse, system_resolve
from commbase.webhooks.transport import GuardedNetworkBackend, GuardedTransport

CONSUMER = outbox.register_consumer("webhooks")
LEASE_S = 60
MAX_RETRY_AFTER_S = 86_400
# Bytes of an answer kept in the attempt log, and read at most before closing.
BODY_LIMIT = 2048
READ_LIMIT = 64 * 1024
# httpx's pool looks over every connection it holds, for each idle one again,
# whenever a request starts or ends: its cost grows with the square of the pool's
# size. Sends therefore go through small clients ("lanes") of this many connections.
LANE_CONNECTIONS = 4
SIGNER_CACHE = 10_000
log = structlog.get_logger("commbase.webhooks")


class _Lanes:
    """``concurrency`` connection slots spread over small httpx clients.

    A send borrows a slot, preferring its origin's home lane so that keep-alive
    connections to one receiver collect in one small pool; when that lane is busy it
    takes the lane with the most free slots. No lane has more requests in flight
    than connections, and all lanes together at most ``concurrency``.
    """

    def __init__(self, clients: list[httpx.AsyncClient], concurrency: int) -> None:
        self.clients = clients
        self.free = [0] * len(clients)
        for n in range(concurrency):
            self.free[n % len(clients)] += 1
        self.gate = asyncio.Semaphore(concurrency)

    @contextlib.asynccontextmanager
    async def borrow(self, url: str) -> AsyncIterator[httpx.AsyncClient]:
        parts = urlsplit(url)
        await self.gate.acquire()
        try:
            # The gate guarantees a free slot somewhere; nothing awaits until it is taken.
            lane = hash((parts.scheme, parts.netloc)) % len(self.clients)
            if not self.free[lane]:
                lane = max(range(len(self.free)), key=self.free.__getitem__)
            self.free[lane] -= 1
            try:
                yield self.clients[lane]
            finally:
                self.free[lane] += 1
        finally:
            self.gate.release()


@dataclass(frozen=True)
class Outcome:
    delivery_id: str
    outcome: AttemptOutcome
    status_code: int | None
    body: str | None
    latency_ms: int | None
    error: str | None
    retry_after_s: int | None
    headers: dict[str, str]

    @property
    def succeeded(self) -> bool:
        return self.outcome == AttemptOutcome.SUCCEEDED


async def _read_head(response: httpx.Response) -> str:
    """The answer's first ``BODY_LIMIT`` bytes as text, reading at most ``READ_LIMIT``."""
    kept = bytearray()
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        kept += chunk[: BODY_LIMIT - len(kept)]
        if read >= READ_LIMIT:
            break  # the caller closes the connection without reading the rest
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return f"({encoding}-encoded answer not shown)"
    try:
        decoder = codecs.getincrementaldecoder(response.charset_encoding or "utf-8")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")
    # final=False drops a character cut in half at the limit; PostgreSQL refuses NUL.
    return decoder(errors="replace").decode(bytes(kept), final=False).replace("\x00", "\ufffd")


def _retry_after(value: str | None) -> int | None:
    if not value:
        return None
    if value.strip().isdigit():
        return int(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int((when - datetime.now(UTC)).total_seconds()))


class Dispatcher:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        worker_id: str | None = None,
        resolver: Resolver = system_resolve,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """``resolver`` and ``network_backend`` (what opens sockets to checked
        addresses) are replaceable for tests."""
        self.database = database
        self.settings = settings
        self.server_secret = settings.secret_key.get_secret_value()
        self.worker_id = worker_id or worker_name()
        concurrency = max(1, settings.webhook_worker_concurrency)
        lanes = math.ceil(concurrency / LANE_CONNECTIONS)
        # What each client would build for itself (certificates loaded once, not per lane).
        tls = httpx.create_ssl_context(trust_env=True)
        guard = GuardedNetworkBackend(
            allow_private=settings.webhooks_allow_private_urls,
            resolver=resolver,
            backend=network_backend,
        )
        self._clients = [
            httpx.AsyncClient(
                timeout=settings.webhook_timeout_s,
                follow_redirects=False,
                trust_env=False,
                transport=GuardedTransport(
                    network_backend=guard,
                    ssl_context=tls,
                    limits=httpx.Limits(max_connections=LANE_CONNECTIONS),
                ),
                headers={
                    "User-Agent": f"commbase-webhooks/{__version__}",
                    "Accept-Encoding": "identity",
                },
            )
            for _ in range(lanes)
        ]
        self._lanes = _Lanes(self._clients, concurrency)
        # Encrypted secret -> its signer: the ciphertext of a secret never changes.
        self._signers: dict[str, Webhook] = {}
        self._stop = asyncio.Event()

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    # ------------------------------------------------------------- fan out

    async def fan_out(self, *, limit: int = 500) -> int:
        """Turn new outbox events into deliveries; returns how many were created."""
        async with self.database.sessionmaker() as session:
            claimed = await outbox.claim(
                session, consumer=CONSUMER, worker_id=self.worker_id, limit=limit, lease_s=LEASE_S
            )
            if not claimed:
                await session.commit()
                return 0
            endpoints = (
                await session.scalars(
                    select(WebhookEndpoint).where(
                        WebhookEndpoint.org_id.in_({c.org_id for c in claimed}),
                        WebhookEndpoint.status.in_((EndpointStatus.ACTIVE, EndpointStatus.PAUSED)),
                    )
                )
            ).all()
            existing = set(
                (
                    await session.execute(
                        select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                            WebhookDelivery.event_id.in_([c.event_id for c in claimed])
                        )
                    )
                ).all()
            )
            now = utcnow()
            rows: list[dict[str, Any]] = []
            for event in claimed:
                for endpoint in endpoints:
                    # An endpoint hears events recorded from its creation on.
                    if (
                        endpoint.org_id != event.org_id
                        or event.created_at < endpoint.created_at
                        or not receives(endpoint, event_type=event.type, payload=event.payload)
                    ):
                        continue
                    if (endpoint.id, event.event_id) in existing:
                        continue
                    rows.append(
                        {
                            "org_id": event.org_id,
                            "endpoint_id": endpoint.id,
                            "event_id": event.event_id,
                            "event_type": event.type,
                            "payload": envelope(
                                event_type=event.type,
                                created_at=event.created_at,
                                data=event.payload,
                            ),
                            "next_attempt_at": now,
                        }
                    )
            if rows:
                # One bulk INSERT (the columns' defaults fill id, status, created_at...).
                await session.execute(insert(WebhookDelivery), rows)
            await outbox.complete(
                session, delivery_ids=[c.delivery_id for c in claimed], worker_id=self.worker_id
            )
            await session.commit()
            return len(rows)

    # ---------------------------------------------------------------- send

    async def _claim_due(self, limit: int) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        now = utcnow()
        async with self.database.sessionmaker() as session:
            ids = list(
                (
                    await session.scalars(
                        select(WebhookDelivery.id)
                        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                        .where(
                            WebhookDelivery.status == DeliveryStatus.PENDING,
                            WebhookDelivery.next_attempt_at <= now,
                            WebhookEndpoint.status == EndpointStatus.ACTIVE,
                        )
                        .order_by(WebhookDelivery.next_attempt_at)
                        .limit(limit)
                        .with_for_update(skip_locked=True, of=WebhookDelivery)
                    )
                ).all()
            )
            if not ids:
                await session.commit()
                return []
            # The lease outlasts the batch: rounds of sends, each bounded by the deadline.
            rounds = math.ceil(len(ids) / max(1, self.settings.webhook_worker_concurrency))
            lease_s = max(LEASE_S, rounds * self.settings.webhook_timeout_s + 30)
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(claimed_by=self.worker_id, next_attempt_at=now + timedelta(seconds=lease_s))
                .execution_options(synchronize_session=False)
            )
            rows = (
                await session.execute(
                    select(WebhookDelivery, WebhookEndpoint)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(ids))
                )
            ).all()
            await session.commit()
            return [(delivery, endpoint) for delivery, endpoint in rows]

    def _signer(self, key: str) -> Webhook:
        signer = self._signers.get(key)
        if signer is None:
            if len(self._signers) >= SIGNER_CACHE:
                self._signers.clear()
            signer = Webhook(secrets.decrypt(key, server_secret=self.server_secret))
            self._signers[key] = signer
        return signer

    def _signature(self, endpoint: WebhookEndpoint, msg_id: str, body: str, at: datetime) -> str:
        keys = [endpoint.secret_encrypted]
        if endpoint.previous_secret_encrypted and (
            endpoint.previous_secret_expires_at is None
            or endpoint.previous_secret_expires_at > utcnow()
        ):
            keys.append(endpoint.previous_secret_encrypted)
        return " ".join(self._signer(key).sign(msg_id, at, body) for key in keys)

    async def _send(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> Outcome:
        body = orjson.dumps(delivery.payload).decode()
        # Signed with the real time, which is what receivers check it against.
        sent_at = datetime.now(UTC).replace(microsecond=0)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signature(endpoint, delivery.event_id, body, sent_at),
        }
        shown = {k: v for k, v in headers.items() if k != "webhook-signature"}
        try:
            parse(endpoint.url)
        except UnsafeUrl as exc:
            refused = AttemptOutcome.REFUSED
            return Outcome(delivery.id, refused, None, None, None, exc.detail[:500], None, shown)
        deadline = self.settings.webhook_timeout_s
        status: int | None = None
        answer: str | None = None
        retry_after: int | None = None
        error: str | None = None
        async with self._lanes.borrow(endpoint.url) as client:
            started = time.perf_counter()
            try:
                # One deadline for the whole send: resolving, connecting, the request and
                # the answer (a receiver trickling bytes cannot hold a send any longer).
                async with (
                    asyncio.timeout(deadline),
                    client.stream("POST", endpoint.url, content=body, headers=headers) as response,
                ):
                    status = response.status_code
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    answer = await _read_head(response)
            except TimeoutError:
                kind, error = AttemptOutcome.TIMEOUT, f"No complete answer within {deadline:g} s"
            except UnsafeUrl as exc:
                kind, error = AttemptOutcome.REFUSED, exc.detail
            except httpx.TimeoutException as exc:
                kind, error = AttemptOutcome.TIMEOUT, f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:
                kind, error = AttemptOutcome.CONNECTION_ERROR, f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # One odd receiver must not keep the rest of the batch from being recorded.
                log.exception("webhook send failed", delivery=delivery.id, endpoint=endpoint.id)
                kind, error = AttemptOutcome.CONNECTION_ERROR, f"{type(exc).__name__}: {exc}"
            else:
                kind = (
                    AttemptOutcome.SUCCEEDED
                    if 200 <= response.status_code < 300
                    else AttemptOutcome.HTTP_ERROR
                )
            latency = round((time.perf_counter() - started) * 1000)
        return Outcome(
            delivery.id,
            kind,
            status,
            answer,
            latency,
            error[:500] if error else None,
            retry_after,
            shown,
        )

    async def send_due(self, *, limit: int = 200) -> int:
        """Send every due delivery (up to ``limit``); returns how many were attempted."""
        claimed = await self._claim_due(limit)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.settings.webhook_worker_concurrency)

        async def send(pair: tuple[WebhookDelivery, WebhookEndpoint]) -> Outcome:
            async with gate:
                return await self._send(*pair)

        outcomes = await asyncio.gather(*(send(pair) for pair in claimed))
        await self._record(outcomes)
        return len(outcomes)

    async def _record(self, outcomes: list[Outcome]) -> None:
        now = utcnow()
        async with self.database.sessionmaker() as session:
            deliveries = {
                d.id: d
                for d in await session.scalars(
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.id.in_([o.delivery_id for o in outcomes]),
                        WebhookDelivery.claimed_by == self.worker_id,
                    )
                    .with_for_update()
                )
            }
            endpoints = {
                e.id: e
                for e in await session.scalars(
                    select(WebhookEndpoint)
                    .where(WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries.values()}))
                    .order_by(WebhookEndpoint.id)
                    .with_for_update()
                )
            }
            attempts: list[dict[str, Any]] = []
            for outcome in outcomes:
                delivery = deliveries.get(outcome.delivery_id)
                if delivery is None:
                    continue  # our lease ran out and another worker owns it now
                endpoint = endpoints[delivery.endpoint_id]
                attempts.append(self._apply_attempt(delivery, endpoint, outcome, now))
                await self._apply(session, delivery, endpoint, outcome, now)
            if attempts:
                # One bulk INSERT for the batch's attempt rows.
                await session.execute(insert(WebhookAttempt), attempts)
            await session.commit()

    def _apply_attempt(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome, now: datetime
    ) -> dict[str, Any]:
        """The attempt row for this outcome (``delivery.attempts`` before ``_apply``)."""
        return {
            "org_id": delivery.org_id,
            "delivery_id": delivery.id,
            "endpoint_id": endpoint.id,
            "attempt": delivery.attempts + 1,
            "url": endpoint.url,
            "request_headers": outcome.headers,
            "response_status": outcome.status_code,
            "response_body": outcome.body,
            "latency_ms": outcome.latency_ms,
            "error": outcome.error,
            "outcome": outcome.outcome,
            "succeeded": outcome.succeeded,
            "worker": self.worker_id,
            "attempted_at": now,
        }

    async def _apply(
        self,
        session: Any,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint,
        outcome: Outcome,
        now: datetime,
    ) -> None:
        code = outcome.status_code
        delivery.attempts += 1
        delivery.claimed_by = None
        delivery.last_status_code = code
        delivery.last_error = outcome.error
        endpoint.total_attempts += 1
        if outcome.succeeded:
            delivery.status, delivery.completed_at, delivery.next_attempt_at = (
                DeliveryStatus.SUCCEEDED,
                now,
                None,
            )
            endpoint.successful_deliveries += 1
            endpoint.consecutive_failures = 0
            endpoint.last_delivery_at = now
            return
        endpoint.last_failure_at = now
        answered = outcome.outcome == AttemptOutcome.HTTP_ERROR
        if answered and code == 410:
            delivery.status, delivery.completed_at = DeliveryStatus.FAILED, now
            delivery.next_attempt_at = None
            endpoint.failed_deliveries += 1
            await self._disable(session, endpoint, "the endpoint answered 410 Gone")
            return
        schedule = endpoint.retry_schedule or []
        if delivery.attempts <= len(schedule):
            delay = schedule[delivery.attempts - 1]
            if answered and code in (429, 503) and outcome.retry_after_s is not None:
                delay = min(max(outcome.retry_after_s, 1), MAX_RETRY_AFTER_S)
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            return
        delivery.status, delivery.completed_at = DeliveryStatus.FAILED, now
        delivery.next_attempt_at = None
        endpoint.failed_deliveries += 1
        endpoint.consecutive_failures += 1
        if endpoint.consecutive_failures >= self.settings.webhook_disable_after_failures:
            await self._disable(
                session,
                endpoint,
                f"{endpoint.consecutive_failures} deliveries in a row failed",
            )

    async def _disable(self, session: Any, endpoint: WebhookEndpoint, reason: str) -> None:
        if endpoint.status == EndpointStatus.DISABLED:
            return
        endpoint.status = EndpointStatus.DISABLED
        endpoint.disabled_reason = reason[:200]
        await outbox.record(
            session,
            events.ENDPOINT_DISABLED,
            {"id": endpoint.id, "url": endpoint.url, "reason": reason},
            org_id=endpoint.org_id,
        )
        await audit.record(
            session,
            org_id=endpoint.org_id,
            action="webhook.disabled",
            actor_type="system",
            target_type="webhook",
            target_id=endpoint.id,
            details={"reason": reason},
        )
        log.warning("webhook endpoint disabled", endpoint=endpoint.id, reason=reason)

    # ---------------------------------------------------------------- loop

    async def run_once(self) -> int:
        """One round: fan out new events, then send what is due."""
        created = await self.fan_out()
        sent = await self.send_due()
        return created + sent

    async def run_forever(self, *, idle_s: float = 0.25) -> None:
        await repeat(
            self.run_once, stop=self._stop, pause_s=idle_s, name="webhooks", again_when_busy=True
        )

    def stop(self) -> None:
        self._stop.set()
