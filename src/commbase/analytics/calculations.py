"""The calculations of seed 001 (``analyticsCalculations.js``), each a small pure function.

Rates are percentages rounded to 2 decimals; a zero (or negative) denominator
gives 0 rather than an error or infinity.

**Growth** is the percent change from the previous value to the current one,
``(current - previous) / |previous| x 100``, 2 decimals. From zero, where that
is undefined, it is +100 when the value rose, -100 when it fell and 0 when it
stayed at zero (seed 001's ``calculateGrowthRate``, and Plausible's rule). A
running total (``contacts.total``) is compared with its value when the previous
period ended, not with what the previous period added.

Scores (0-100, 2 decimals):

* **Campaign score** weighs what a campaign is for:
  ``0.30 x delivery rate + 0.25 x read rate + 0.30 x reply rate + 0.15 x (100 - failure rate)``.
  A campaign that reaches everyone, is read and answered by everyone and never
  fails scores 100; each rate is clamped to [0, 100] first.
* **Contact engagement score** rewards a contact who reads, replies and is recent:
  ``40 x read rate + 40 x reply rate`` (both as fractions of messages received)
  plus a recency part, ``20 x max(0, 1 - days since last interaction / 90)``.
  A contact with nothing received scores only on recency.
"""

from __future__ import annotations

from collections.abc import Mapping


def _percent(part: float, whole: float) -> float:
    if not whole or whole <= 0:
        return 0.0
    return round(part / whole * 100, 2)


def _clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return max(low, min(high, value))


def delivery_rate(delivered: float, sent: float) -> float:
    return _percent(delivered, sent)


def read_rate(read: float, delivered: float) -> float:
    return _percent(read, delivered)


def engagement_rate(engaged: float, delivered: float) -> float:
    return _percent(engaged, delivered)


def reply_rate(replied: float, sent: float) -> float:
    return _percent(replied, sent)


def failure_rate(failed: float, total: float) -> float:
    return _percent(failed, total)


def conversion_rate(conversions: float, total: float) -> float:
    return _percent(conversions, total)


def average_response_time(total_time: float, count: float) -> float:
    """Mean response time in the unit of ``total_time``, 2 decimals."""
    if not count or count <= 0:
        return 0.0
    return round(total_time / count, 2)


def growth_rate(current: float, previous: float) -> float:
    """Percent change from ``previous``; from 0: +100 up, -100 down, 0 unchanged."""
    if not previous:
        return 100.0 if current > 0 else -100.0 if current < 0 else 0.0
    return round((current - previous) / abs(previous) * 100, 2)


def campaign_score(metrics: Mapping[str, float]) -> float:
    delivery = _clamp(metrics.get("deliveryRate", 0.0))
    read = _clamp(metrics.get("readRate", 0.0))
    reply = _clamp(metrics.get("replyRate", 0.0))
    failure = _clamp(metrics.get("failureRate", 0.0))
    return round(0.30 * delivery + 0.25 * read + 0.30 * reply + 0.15 * (100 - failure), 2)


def contact_engagement_score(metrics: Mapping[str, float]) -> float:
    received = metrics.get("messagesReceived", 0.0)
    read = metrics.get("messagesRead", 0.0)
    replied = metrics.get("replies", 0.0)
    days = metrics.get("daysSinceLastInteraction")
    read_part = _clamp(read / received, 0, 1) if received > 0 else 0.0
    reply_part = _clamp(replied / received, 0, 1) if received > 0 else 0.0
    recency = max(0.0, 1 - days / 90) if days is not None and days >= 0 else 0.0
    return round(40 * read_part + 40 * reply_part + 20 * recency, 2)
