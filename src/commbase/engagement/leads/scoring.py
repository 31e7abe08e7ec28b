"""The default lead score, and priority from score thresholds.

A caller's AI may give a score (0-100). Without one, commbase computes it from
what the lead says, adding:

    budget      "100k+" 35, "50k-100k" 25, "10k-50k" 15, anything else given 5
    timeline    "immediate" 30, "1-3_months" 20, "3-6_months" 10, anything else given 5
    interest    given 10
    phone       given 10
    email       given 10
    company     given 5

(at most 100). Priority is ``hot`` at or above COMMBASE_LEAD_HOT_SCORE (70),
``warm`` at or above COMMBASE_LEAD_WARM_SCORE (40), ``cold`` below.
"""

from __future__ import annotations

from dataclasses import dataclass

from commbase.engagement.leads.enums import LeadPriority

BUDGET_POINTS = {"100k+": 35, "50k-100k": 25, "10k-50k": 15}
TIMELINE_POINTS = {"immediate": 30, "1-3_months": 20, "3-6_months": 10}
OTHER_GIVEN = 5


@dataclass(frozen=True)
class LeadFacts:
    budget: str | None
    timeline: str | None
    interest: str | None
    phone: str | None
    email: str | None
    company: str | None


def default_score(facts: LeadFacts) -> int:
    """The rule's score for ``facts``, 0-100."""
    score = 0
    if facts.budget:
        score += BUDGET_POINTS.get(facts.budget.strip().lower(), OTHER_GIVEN)
    if facts.timeline:
        score += TIMELINE_POINTS.get(facts.timeline.strip().lower(), OTHER_GIVEN)
    score += 10 if facts.interest else 0
    score += 10 if facts.phone else 0
    score += 10 if facts.email else 0
    score += 5 if facts.company else 0
    return min(score, 100)


def priority_for(score: int, *, hot: int, warm: int) -> LeadPriority:
    if score >= hot:
        return LeadPriority.HOT
    if score >= warm:
        return LeadPriority.WARM
    return LeadPriority.COLD
