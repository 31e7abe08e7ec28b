"""Usage-priced add-ons, billed in arrears on the renewal invoice.

An add-on with ``pricing=usage`` counts its ``usage_meter`` from the metric registry
over the period that just ended -- ``call_minutes`` (``calls.billable_minutes``),
``calls`` (``calls.total``) or ``video_calls`` (``calls.video``) -- and the renewal
invoice of the next period carries one ``usage`` line for it: that count times the
add-on's amount, dated with the period that ended. Whose usage: a customer
organization's (every call in that organization), a member customer's (the calls
that user placed in the seller's organization); a contact places no calls. A
period spent trialing or paused bills no usage; a usage add-on adds nothing to MRR,
the forecast or prorations, and a subscription that ends has no renewal invoice to
carry its last period's usage.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.periods import zone
from commbase.analytics.service import Analytics
from commbase.billing.catalog.enums import AddOnPricing, UsageMeter
from commbase.billing.catalog.models import AddOn
from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.invoices import service as invoices
from commbase.billing.invoices.enums import LineKind
from commbase.identity import service as identity_service

METRIC = {
    UsageMeter.CALL_MINUTES: "calls.billable_minutes",
    UsageMeter.CALLS: "calls.total",
    UsageMeter.VIDEO_CALLS: "calls.video",
}
UNIT = {
    UsageMeter.CALL_MINUTES: "minutes",
    UsageMeter.CALLS: "calls",
    UsageMeter.VIDEO_CALLS: "video calls",
}


async def _counted(
    session: AsyncSession, *, customer: Customer, meter: UsageMeter, start: datetime, end: datetime
) -> int:
    if customer.kind == CustomerKind.ORGANIZATION:
        org_id, where = customer.reference_id, None
    elif customer.kind == CustomerKind.USER:
        org_id, where = customer.org_id, ("user", customer.reference_id)
    else:
        return 0
    org = await identity_service.get_organization(session, org_id=org_id)
    totals = await Analytics(session, org_id).totals(
        [METRIC[meter]], start, end, tz=zone(org.timezone), where=where
    )
    return int(totals[METRIC[meter]]["total"] or 0)


async def usage_lines(
    session: AsyncSession,
    *,
    customer: Customer,
    addons: tuple[tuple[AddOn, int], ...],
    start: datetime,
    end: datetime,
) -> list[invoices.LineSpec]:
    """One ``usage`` line per usage-priced add-on for [start, end) (none when unused)."""
    lines = []
    for addon, _ in sorted(addons, key=lambda a: a[0].code):
        if addon.pricing != AddOnPricing.USAGE or addon.usage_meter is None:
            continue
        meter = UsageMeter(addon.usage_meter)
        count = await _counted(session, customer=customer, meter=meter, start=start, end=end)
        if count <= 0:
            continue
        lines.append(
            invoices.LineSpec(
                kind=LineKind.USAGE,
                description=f"{addon.name}: {count} {UNIT[meter]}",
                unit_amount=addon.amount,
                quantity=count,
                addon_id=addon.id,
                period_start=start,
                period_end=end,
            )
        )
    return lines
