"""Seed 001's calculations: percentages to 2 decimals, zero denominators give 0."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from commbase.analytics import calculations as calc


@pytest.mark.parametrize(
    ("func", "part", "whole", "expected"),
    [
        (calc.delivery_rate, 950, 1000, 95.0),
        (calc.delivery_rate, 90, 100, 90.0),
        (calc.delivery_rate, 0, 100, 0),
        (calc.delivery_rate, 100, 0, 0),
        (calc.read_rate, 900, 1100, 81.82),
        (calc.engagement_rate, 1, 3, 33.33),
        (calc.reply_rate, 300, 1200, 25.0),
        (calc.failure_rate, 100, 1500, 6.67),
        (calc.conversion_rate, 2, 3, 66.67),
        (calc.conversion_rate, 5, -1, 0),
    ],
)
def test_rates(
    func: Callable[[float, float], float], part: float, whole: float, expected: float
) -> None:
    assert func(part, whole) == expected


def test_average_response_time() -> None:
    assert calc.average_response_time(125, 4) == 31.25
    assert calc.average_response_time(10, 3) == 3.33
    assert calc.average_response_time(10, 0) == 0


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (150, 100, 50.0),
        (50, 100, -50.0),
        (10, 0, 100.0),
        (0.5, 0, 100.0),
        (-3, 0, -100.0),
        (0, 0, 0.0),
        (0, 7, -100.0),
        (1, 3, -66.67),
        (-5, -10, 50.0),
    ],
)
def test_growth_rate(current: float, previous: float, expected: float) -> None:
    assert calc.growth_rate(current, previous) == expected


def test_campaign_score_weighs_reach_reading_replies_and_failures() -> None:
    perfect = {"deliveryRate": 100, "readRate": 100, "replyRate": 100, "failureRate": 0}
    assert calc.campaign_score(perfect) == 100
    assert calc.campaign_score({}) == 15  # nothing delivered, but nothing failed either
    seed_example = {"deliveryRate": 95, "readRate": 80, "replyRate": 25, "failureRate": 5}
    assert calc.campaign_score(seed_example) == round(
        0.3 * 95 + 0.25 * 80 + 0.3 * 25 + 0.15 * 95, 2
    )
    # Out-of-range inputs are clamped, so the score stays within 0-100.
    assert calc.campaign_score({"deliveryRate": 250, "failureRate": -20}) == 45


def test_contact_engagement_score() -> None:
    engaged = {
        "messagesReceived": 10,
        "messagesRead": 10,
        "replies": 10,
        "daysSinceLastInteraction": 0,
    }
    assert calc.contact_engagement_score(engaged) == 100
    assert calc.contact_engagement_score({}) == 0
    half = {"messagesReceived": 10, "messagesRead": 5, "replies": 0, "daysSinceLastInteraction": 45}
    assert calc.contact_engagement_score(half) == 30.0
    stale = {
        "messagesReceived": 4,
        "messagesRead": 4,
        "replies": 2,
        "daysSinceLastInteraction": 400,
    }
    assert calc.contact_engagement_score(stale) == 60.0
