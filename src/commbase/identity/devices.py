"""Device, browser and OS from a User-Agent header (ua-parser)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS"}


@dataclass(frozen=True, slots=True)
class Device:
    type: str  # desktop | mobile | tablet | bot | other
    browser: str | None
    os: str | None


def _version(family: str | None, major: str | None) -> str | None:
    if not family or family == "Other":
        return None
    return f"{family} {major}" if major else family


@lru_cache(maxsize=4096)
def parse_device(user_agent: str | None) -> Device:
    """Classify a User-Agent; unknown or missing agents come back as ``other``."""
    if not user_agent:
        return Device("other", None, None)
    result = parse(user_agent[:1024])
    ua, os_, device = result.user_agent, result.os, result.device
    device_family = device.family if device else ""
    if device_family == "Spider":
        kind = "bot"
    elif (
        "iPad" in device_family
        or "Tablet" in device_family
        or (os_ is not None and os_.family == "Android" and "Mobile" not in user_agent)
    ):
        kind = "tablet"
    elif os_ is not None and os_.family in _MOBILE_OS:
        kind = "mobile"
    elif os_ is not None and os_.family not in ("Other", ""):
        kind = "desktop"
    else:
        kind = "other"
    return Device(
        type=kind,
        browser=_version(ua.family, ua.major) if ua else None,
        os=_version(os_.family, os_.major) if os_ else None,
    )
