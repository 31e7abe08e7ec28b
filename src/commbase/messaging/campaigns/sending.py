"""The real sender of campaign batches: each message through its account's provider
(the offline simulator, or the WhatsApp Cloud API), a bounded number at once."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from commbase.messaging.accounts.service import secret_of
from commbase.messaging.campaigns.outbound import Batch, Outgoing, Sender, SendOutcome
from commbase.messaging.enums import ContentType
from commbase.messaging.providers import provider_for
from commbase.messaging.providers.base import Outbound, SendFailed, SendRefused

log = structlog.get_logger("commbase.campaigns")
CONCURRENCY = 64  # messages in flight per batch


def provider_sender(*, server_secret: str, services: dict[str, Any] | None = None) -> Sender:
    """A ``Sender`` that hands each message of a batch to its account's provider."""
    shared = services if services is not None else {}

    async def send(batch: Batch) -> list[SendOutcome]:
        account = batch.account
        campaign = batch.campaign
        provider = provider_for(
            account.provider,
            account=account,
            access_token=secret_of(account, "access_token", server_secret=server_secret),
            services=shared,
        )
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(item: Outgoing) -> SendOutcome:
            outbound = Outbound(
                message_id=item.message_id,
                to=item.to,
                content_type=ContentType.TEMPLATE,
                template_name=campaign.template_name,
                template_language=campaign.template_language,
                template_parameters=list(campaign.template_parameters),
            )
            async with gate:
                try:
                    sent = await provider.send(
                        outbound=outbound, attempt=batch.attempts.get(item.message_id, 0) + 1
                    )
                except SendRefused as exc:
                    return SendOutcome(
                        item.message_id, error_code=exc.code, error_message=exc.message, final=True
                    )
                except SendFailed as exc:
                    return SendOutcome(
                        item.message_id, error_code="send_failed", error_message=str(exc)
                    )
                except Exception as exc:  # an unexpected error is retried, never lost
                    log.warning("campaign send failed", message_id=item.message_id, error=repr(exc))
                    return SendOutcome(
                        item.message_id, error_code="error", error_message=type(exc).__name__
                    )
            return SendOutcome(item.message_id, provider_message_id=sent.provider_message_id)

        return list(await asyncio.gather(*(one(item) for item in batch.outgoing)))

    return send
