"""One delivery sent: signed per Standard Webhooks, bounded in time and in bytes read.

A send is bounded: one deadline (``webhook_timeout_s``) covers resolving,
connecting, sending and reading the answer, of which at most ``READ_LIMIT`` bytes
are read (the first ``BODY_LIMIT`` are kept in the attempt log) before the
connection is closed. Connections go only to addresses the SSRF guard has just
checked (``transport.py``), through the lanes of ``lanes.py``. Whatever happens,
a send ends in an ``Outcome``; it never raises for one odd receiver.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore
import httpx
import orjson
import structlog
from standardwebhooks.webhooks import Webhook

from commbase.core.time import utcnow
from commbase.settings import Settings
from commbase.webhooks import secrets
from commbase.webhooks.enums import AttemptOutcome
from commbase.webhooks.lanes import open_lanes
from commbase.webhooks.models import WebhookDelivery, WebhookEndpoint
from commbase.webhooks.outcomes import Outcome
from commbase.webhooks.ssrf import Resolver, UnsafeUrl, parse

# Bytes of an answer kept in the attempt log, and read at most before closing.
BODY_LIMIT = 2048
READ_LIMIT = 64 * 1024
SIGNER_CACHE = 10_000
log = structlog.get_logger("commbase.webhooks")


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


class Sender:
    """Signs and sends deliveries, up to ``webhook_worker_concurrency`` at once."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver,
        network_backend: httpcore.AsyncNetworkBackend | None,
    ) -> None:
        self.settings = settings
        self.server_secret = settings.secret_key.get_secret_value()
        self._lanes = open_lanes(settings, resolver=resolver, network_backend=network_backend)
        # Encrypted secret -> its signer: the ciphertext of a secret never changes.
        self._signers: dict[str, Webhook] = {}

    async def close(self) -> None:
        await self._lanes.close()

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

    async def send(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> Outcome:
        """Send one delivery and return what came of it (never raises for the receiver)."""
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
