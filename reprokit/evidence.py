"""Which runs count as evidence about a metric, and the value each one gives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprokit import stats


def metric_value(record: Mapping[str, Any], metric: str) -> float | None:
    """The run's summary value of ``metric`` as a float, None when missing or not a number."""
    return stats.as_float((record.get("summary") or {}).get(metric))


def is_plain_run(record: Mapping[str, Any]) -> bool:
    """Completed, not smoke, not an ablation, not a replay (a replay repeats a seed, it is no
    new evidence): the runs blame, lineage and plot count."""
    return (
        record.get("status") == "completed"
        and not record.get("smoke")
        and record.get("ablation_of") is None
        and record.get("replay_of") is None
    )
