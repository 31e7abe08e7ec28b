"""WhatsApp notifications: stored as they came by the webhook, filed in batches after commit.

The webhook verifies ``X-Hub-Signature-256``, stores the raw body with
:func:`accept` (one insert; a retry of the same notification still waiting is
dropped by its digest) and answers 200 at once. :class:`IntakeRunner` (in every
process running background loops) claims due notifications in batches
(``FOR UPDATE SKIP LOCKED``: any number of runners), files their messages and
statuses (``inbound.receive_many``, ``statuses.apply_reports``) and deletes them,
all in one transaction: a runner that dies leaves its batch to the next. A
message's id follows its notification's (given when the webhook kept it), so a
conversation lists its messages in the order they arrived even when runners
working at once commit out of that order. A batch
that fails is filed again one notification at a time, so a bad notification
holds back only itself; it is retried with backoff, then kept with ``failed_at``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import Database, rowcount
from commbase.core.ids import new_id
from commbase.core.loops import repeat
from commbase.core.time import utcnow
from commbase.messaging import inbound, statuses
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.models import ChannelAccount, WhatsAppNotification
from commbase.messaging.providers.base import InboundMessage, StatusReport
from commbase.messaging.providers.whatsapp import WebhookPayload, parse_changes

log = structlog.get_logger("commbase.messaging.intake")
BATCH = 200
MAX_ATTEMPTS = 8
RETRY_AFTER_S = (2, 10, 30, 120, 600, 1800, 3600)


async def accept(session: AsyncSession, *, accounts: dict[str, ChannelAccount], body: bytes) -> int:
    """Keep a verified notification for each account it names (phone number id ->
    account); returns how many were new."""
    now = utcnow()
    digest = hashlib.sha256(body).hexdigest()
    text = body.decode("utf-8", errors="replace")
    rows = [
        {
            "id": new_id("wan"),
            "org_id": account.org_id,
            "account_id": account.id,
            "phone_number_id": phone_number_id,
            "body": text,
            "body_sha256": digest,
            "received_at": now,
            "available_at": now,
            "attempts": 0,
        }
        for phone_number_id, account in sorted(accounts.items())
    ]
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(WhatsAppNotification.__table__)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["account_id", "body_sha256"])
    )
    return rowcount(await session.execute(statement))


def _changes(
    notification: WhatsAppNotification,
) -> tuple[list[InboundMessage], list[StatusReport]]:
    """The messages and statuses the notification carries for its account's number."""
    try:
        payload = WebhookPayload.model_validate_json(notification.body)
    except ValidationError:
        return [], []  # verified and parsed on arrival; nothing else can be done with it
    messages: list[InboundMessage] = []
    reports: list[StatusReport] = []
    for phone_number_id, arrived, reported in parse_changes(payload):
        if phone_number_id == notification.phone_number_id:
            messages.extend(arrived)
            reports.extend(reported)
    return messages, reports


async def _file(session: AsyncSession, notifications: Sequence[WhatsAppNotification]) -> None:
    """File the notifications' messages and statuses, by account, and delete them."""
    accounts = await accounts_service.by_ids(
        session, account_ids=[n.account_id for n in notifications]
    )
    messages: dict[str, list[InboundMessage]] = defaultdict(list)
    ids: dict[str, list[str]] = defaultdict(list)
    reports: dict[str, list[StatusReport]] = defaultdict(list)
    for notification in notifications:
        if notification.account_id not in accounts:
            continue  # the account was removed since: nothing to file it in
        arrived, reported = _changes(notification)
        messages[notification.account_id].extend(arrived)
        # Ids after the notification's own: messages sort by arrival, whichever
        # filer stores them first.
        ids[notification.account_id].extend(
            inbound.ordered_ids(len(arrived), after=notification.id)
        )
        reports[notification.account_id].extend(reported)
    for account_id in sorted(set(messages) | set(reports)):
        account = accounts[account_id]
        if messages[account_id]:
            await inbound.receive_many(
                session, account=account, inbound=messages[account_id], ids=ids[account_id]
            )
        await statuses.apply_reports(session, account_id=account_id, reports=reports[account_id])
    await session.execute(
        delete(WhatsAppNotification).where(
            WhatsAppNotification.id.in_([n.id for n in notifications])
        )
    )


async def _claim(
    session: AsyncSession, *, now: datetime, limit: int, only: str | None = None
) -> list[WhatsAppNotification]:
    statement = select(WhatsAppNotification).where(
        WhatsAppNotification.failed_at.is_(None), WhatsAppNotification.available_at <= now
    )
    if only is not None:
        statement = statement.where(WhatsAppNotification.id == only)
    rows = await session.scalars(
        statement.order_by(WhatsAppNotification.available_at, WhatsAppNotification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def _file_alone(database: Database, notification_id: str, *, now: datetime) -> None:
    """File one notification in a transaction of its own; on failure count the attempt
    and retry it later (or give up after ``MAX_ATTEMPTS``)."""
    async with database.sessionmaker() as session:
        claimed = await _claim(session, now=now, limit=1, only=notification_id)
        if not claimed:
            return
        attempts = claimed[0].attempts + 1
        try:
            await _file(session, claimed)
            await session.commit()
            return
        except Exception as exc:
            await session.rollback()
            error = f"{type(exc).__name__}: {exc}"[:2000]
    give_up = attempts >= MAX_ATTEMPTS
    log.error(
        "whatsapp notification not filed",
        notification_id=notification_id,
        attempts=attempts,
        gave_up=give_up,
        error=error,
    )
    delay = RETRY_AFTER_S[min(attempts, len(RETRY_AFTER_S)) - 1]
    async with database.sessionmaker() as session:
        await session.execute(
            update(WhatsAppNotification)
            .where(WhatsAppNotification.id == notification_id)
            .values(
                attempts=attempts,
                last_error=error,
                available_at=now + timedelta(seconds=delay),
                failed_at=now if give_up else None,
            )
        )
        await session.commit()


async def file_due(database: Database, *, limit: int = BATCH, now: datetime | None = None) -> int:
    """File up to ``limit`` due notifications together; returns how many were taken."""
    now = now or utcnow()
    async with database.sessionmaker() as session:
        claimed = await _claim(session, now=now, limit=limit)
        if not claimed:
            return 0
        ids = [notification.id for notification in claimed]
        try:
            await _file(session, claimed)
            await session.commit()
            return len(ids)
        except Exception as exc:
            await session.rollback()
            log.warning("whatsapp batch not filed; one by one", size=len(ids), error=repr(exc))
    for notification_id in ids:
        await _file_alone(database, notification_id, now=now)
    return len(ids)


async def file_all(database: Database) -> int:
    """File every due notification (tests, ``commbase jobs``); returns how many."""
    total = 0
    while done := await file_due(database):
        total += done
    return total


class IntakeRunner:
    """A background loop filing notifications as they arrive."""

    def __init__(self, database: Database, *, idle_s: float = 0.1, batch: int = BATCH) -> None:
        self.database = database
        self.idle_s = idle_s
        self.batch = batch
        self._stop = asyncio.Event()

    async def run_forever(self) -> None:
        await repeat(
            lambda: file_due(self.database, limit=self.batch),
            stop=self._stop,
            pause_s=self.idle_s,
            name="whatsapp-intake",
            again_when_busy=True,
        )

    def stop(self) -> None:
        self._stop.set()
