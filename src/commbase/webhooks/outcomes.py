"""What a send's outcome does: an attempt row, the delivery's next step, the endpoint's
counters, and disabling an endpoint that keeps failing.

A 2xx within the deadline succeeds. 410 disables the endpoint. 429 and 503 retry
after ``Retry-After`` (capped at a day). Anything else (another status, a
timeout, an unreachable or refused URL) retries on the endpoint's schedule
(default 60, 300, 900 s); when the schedule is used up the delivery fails. An
endpoint is disabled after ``webhook_disable_after_failures`` (default 10)
deliveries in a row failed for good; a success resets the count. Either way a
``webhook.endpoint.disabled`` event and an audit entry record it.

Outcomes are recorded only for deliveries the worker still holds: one whose
lease ran out belongs to whichever worker claimed it since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.time import utcnow
from commbase.identity import audit
from commbase.webhooks import events
from commbase.webhooks.enums import AttemptOutcome, DeliveryStatus, EndpointStatus
from commbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_RETRY_AFTER_S = 86_400
log = structlog.get_logger("commbase.webhooks")


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


async def record(
    database: Database, outcomes: list[Outcome], *, worker_id: str, disable_after: int
) -> None:
    """Store the batch's attempts and move each delivery (and its endpoint) on, in one
    transaction; ``disable_after`` failed deliveries in a row disable an endpoint."""
    now = utcnow()
    async with database.sessionmaker() as session:
        deliveries = {
            d.id: d
            for d in await session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_([o.delivery_id for o in outcomes]),
                    WebhookDelivery.claimed_by == worker_id,
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
            attempts.append(_attempt_row(delivery, endpoint, outcome, now, worker_id))
            await _apply(session, delivery, endpoint, outcome, now, disable_after)
        if attempts:
            # One bulk INSERT for the batch's attempt rows.
            await session.execute(insert(WebhookAttempt), attempts)
        await session.commit()


def _attempt_row(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    now: datetime,
    worker_id: str,
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
        "worker": worker_id,
        "attempted_at": now,
    }


async def _apply(
    session: AsyncSession,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    now: datetime,
    disable_after: int,
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
        await _disable(session, endpoint, "the endpoint answered 410 Gone")
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
    if endpoint.consecutive_failures >= disable_after:
        await _disable(
            session,
            endpoint,
            f"{endpoint.consecutive_failures} deliveries in a row failed",
        )


async def _disable(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
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
