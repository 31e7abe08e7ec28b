"""Call quality label from what the SDK reports.

Thresholds (ITU-T G.107 / G.114 rules of thumb used by carriers):

    label      MOS       one-way latency   jitter    packet loss
    excellent  >= 4.3    < 150 ms          < 20 ms   < 1 %
    good       >= 4.0    < 250 ms          < 40 ms   < 3 %
    fair       >= 3.6    < 400 ms          < 75 ms   < 5 %
    poor       anything worse

A call gets the best label whose every threshold it meets; a metric that was not
reported does not count against it. No metrics at all: no label.
"""

from __future__ import annotations

from commbase.calls.enums import Quality

_LEVELS: tuple[tuple[Quality, float, int, int, float], ...] = (
    (Quality.EXCELLENT, 4.3, 150, 20, 0.01),
    (Quality.GOOD, 4.0, 250, 40, 0.03),
    (Quality.FAIR, 3.6, 400, 75, 0.05),
)


def quality_label(
    *,
    mos: float | None,
    latency_ms: int | None,
    jitter_ms: int | None,
    packet_loss: float | None,
) -> Quality | None:
    if mos is None and latency_ms is None and jitter_ms is None and packet_loss is None:
        return None
    for label, min_mos, max_latency, max_jitter, max_loss in _LEVELS:
        if (
            (mos is None or mos >= min_mos)
            and (latency_ms is None or latency_ms < max_latency)
            and (jitter_ms is None or jitter_ms < max_jitter)
            and (packet_loss is None or packet_loss < max_loss)
        ):
            return label
    return Quality.POOR
