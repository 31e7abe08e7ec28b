"""Plan features that commbase itself enforces (plans may list any other feature for
their own products, checked through ``GET /v1/billing/entitlements``)."""

from __future__ import annotations

from enum import StrEnum


class Feature(StrEnum):
    VIDEO_CALLS = "video_calls"  # placing a call of kind video
