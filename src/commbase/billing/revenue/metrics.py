"""Recurring revenue through the analytics registry: MRR, ARR, movements, subscriptions.

Every MRR change is a row of ``billing_mrr_movements`` with a signed amount, so MRR
at a moment is the running total of movements up to it (a ``cumulative`` snapshot
entry); a period's movements are plain sums. Movements never change once written
(``created_at`` is their change time: a renewal job dating a trial's end in the
past folds that hour again).

``mrr.*`` metrics cover every currency and split by ``currency``: never add them up
across currencies without that split. ``revenue.mrr``, ``revenue.arr`` and
``revenue.mrr_expansion`` count only movements in the organization's currency (the
one its dashboards and snapshots report in).
"""

from __future__ import annotations

from sqlalchemy import and_, case

from commbase.analytics.registry import Entry, Source, count, register, register_section, total
from commbase.billing.revenue.enums import MovementKind
from commbase.billing.revenue.models import MrrMovement

MOVEMENTS = Source(
    "billing_mrr_movements",
    MrrMovement.__table__,
    org=MrrMovement.org_id,
    time=MrrMovement.occurred_at,
    changed=MrrMovement.created_at,
    dimensions={
        "currency": MrrMovement.currency,
        "kind": MrrMovement.kind,
        # Not split by customer: one rollup row per customer and hour made the rollups
        # about as large as the movements x metrics (bench/revenue.py); one customer's
        # movements are listed by GET /v1/billing/mrr-movements.
        "plan": MrrMovement.plan_id,
    },
)
ORG_CURRENCY = MrrMovement.org_currency.is_(True)


register(
    total("mrr.change", MOVEMENTS, MrrMovement.amount, "Net MRR change", unit="minor"),
    *(
        total(
            f"mrr.{kind.value}",
            MOVEMENTS,
            MrrMovement.amount,
            f"MRR movement: {kind.value}",
            where=MrrMovement.kind == kind,
            unit="minor",
        )
        for kind in MovementKind
    ),
    total(
        "revenue.mrr",
        MOVEMENTS,
        MrrMovement.amount,
        "Monthly recurring revenue in the organization's currency (running total)",
        where=ORG_CURRENCY,
        unit="minor",
    ),
    total(
        "revenue.arr",
        MOVEMENTS,
        MrrMovement.amount * 12,
        "Annual recurring revenue: 12 x MRR, in the organization's currency",
        where=ORG_CURRENCY,
        unit="minor",
    ),
    total(
        "revenue.mrr_expansion",
        MOVEMENTS,
        MrrMovement.amount,
        "Expansion MRR in the organization's currency",
        where=and_(ORG_CURRENCY, MrrMovement.kind == MovementKind.EXPANSION),
        unit="minor",
    ),
    total(
        "revenue.mrr_churn",
        MOVEMENTS,
        -MrrMovement.amount,
        "Churned MRR in the organization's currency (positive)",
        where=and_(ORG_CURRENCY, MrrMovement.kind == MovementKind.CHURN),
        unit="minor",
    ),
    *(
        total(
            f"revenue.mrr_{kind.value}",
            MOVEMENTS,
            MrrMovement.amount,
            f"{kind.value.title()} MRR in the organization's currency (signed)",
            where=and_(ORG_CURRENCY, MrrMovement.kind == kind),
            unit="minor",
        )
        for kind in (MovementKind.NEW, MovementKind.CONTRACTION, MovementKind.REACTIVATION)
    ),
    total(
        "customers.paying",
        MOVEMENTS,
        case(
            (MrrMovement.kind.in_([MovementKind.NEW, MovementKind.REACTIVATION]), 1),
            (MrrMovement.kind == MovementKind.CHURN, -1),
            else_=0,
        ),
        "Paying customers in the organization's currency (running total)",
        where=ORG_CURRENCY,
    ),
    count(
        "customers.churned",
        MOVEMENTS,
        "Customers whose MRR in the organization's currency fell to zero",
        where=and_(ORG_CURRENCY, MrrMovement.kind == MovementKind.CHURN),
    ),
    total(
        "subscriptions.active",
        MOVEMENTS,
        MrrMovement.active_delta,
        "Paying subscriptions (running total)",
    ),
    count(
        "subscriptions.new",
        MOVEMENTS,
        "Subscriptions that started paying (new, resumed or reactivated)",
        where=MrrMovement.active_delta > 0,
    ),
    count(
        "subscriptions.cancelled",
        MOVEMENTS,
        "Subscriptions that stopped paying (cancelled, paused, expired)",
        where=MrrMovement.active_delta < 0,
    ),
)
# ``revenue.mrr`` and ``revenue.arr`` are in billing's ``revenue`` section (at the
# period's end); the subscriptions' own figures here.
register_section(
    "subscriptions",
    {
        "expansionRevenue": "revenue.mrr_expansion",
        "churnedRevenue": "revenue.mrr_churn",
        "activeSubscriptions": Entry("subscriptions.active", cumulative=True),
        "newSubscriptions": "subscriptions.new",
        "cancelledSubscriptions": "subscriptions.cancelled",
    },
)

# Trial conversion: declared over the subscriptions themselves (see ``trials``).
# Seed 000's growth block (revenueGrowthRate, retentionRate, expansionRevenue).
from commbase.billing.revenue import growth as _growth  # noqa: E402, F401
from commbase.billing.revenue import trials as _trials  # noqa: E402, F401
