"""Lab experiment metrics (names unchanged by the move from tracking)."""

from __future__ import annotations

from commbase.analytics.registry import Source, average, count, register, total
from commbase.engagement.lab.enums import LabStatus
from commbase.engagement.lab.models import LabExperiment

LAB = Source(
    "lab_experiments",
    LabExperiment.__table__,
    org=LabExperiment.org_id,
    time=LabExperiment.occurred_at,
    changed=LabExperiment.updated_at,
    dimensions={"type": LabExperiment.experiment_type, "status": LabExperiment.status},
)

register(
    count("lab.experiments", LAB, "Lab experiments started"),
    count(
        "lab.completed",
        LAB,
        "Lab experiments completed",
        where=LabExperiment.status == LabStatus.COMPLETED,
    ),
    average(
        "lab.processing_time_avg",
        LAB,
        LabExperiment.processing_time_ms,
        "Average processing time",
        unit="ms",
    ),
    total("lab.tokens", LAB, LabExperiment.tokens_used, "Tokens used by lab experiments"),
)
