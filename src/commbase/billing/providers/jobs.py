"""Scheduled dunning: payment retries that are due."""

from __future__ import annotations

from commbase.billing.providers import dunning
from commbase.core.jobs import JobContext, job


@job("billing.retry_payments", schedule="*/15 * * * *", per_organization=True)
async def retry_payments(ctx: JobContext) -> int:
    """Ask for the overdue invoices of past-due subscriptions whose retry is due to be
    charged again (after commit, by ``billing.charge_invoice``); returns how many."""
    return await dunning.request_retries(ctx.database, now=ctx.now, org_id=ctx.org_id)
