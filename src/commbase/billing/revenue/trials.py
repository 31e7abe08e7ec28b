"""Trial conversion through the metric registry.

A trial counts at the subscription's creation (``created_at``: when the trial
started) among ``subscriptions.trials_started`` when it was created with a trial
end; it counts among ``subscriptions.trials_converted`` once the subscription has
started paying (an MRR movement that made it a paying subscription), whatever
happened after. ``subscriptions.trial_conversion`` = converted / started x 100: of
the trials started in a period, the share that became paying. A subscription's
``updated_at`` moves whenever its MRR does, so a conversion refolds the hour the
trial started in.
"""

from __future__ import annotations

from sqlalchemy import and_, exists

from commbase.analytics.registry import Source, count, ratio, register
from commbase.billing.revenue.models import MrrMovement
from commbase.billing.subscriptions.models import Subscription

SUBSCRIPTIONS = Source(
    "billing_subscriptions",
    Subscription.__table__,
    org=Subscription.org_id,
    time=Subscription.created_at,
    changed=Subscription.updated_at,
    dimensions={"plan": Subscription.plan_id, "currency": Subscription.currency},
)
TRIAL = Subscription.trial_end.is_not(None)
PAID = exists().where(MrrMovement.subscription_id == Subscription.id, MrrMovement.active_delta > 0)

register(
    count("subscriptions.trials_started", SUBSCRIPTIONS, "Trials started", where=TRIAL),
    count(
        "subscriptions.trials_converted",
        SUBSCRIPTIONS,
        "Trials started that became paying",
        where=and_(TRIAL, PAID),
    ),
    ratio(
        "subscriptions.trial_conversion",
        "subscriptions.trials_converted",
        "subscriptions.trials_started",
        "Trials started that became paying / trials started",
    ),
)
