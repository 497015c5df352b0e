"""Which runs count as evidence about a metric, the value each one gives, and the runs of one
experiment reduced to one value per seed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reprokit import stats


def _number(record: Mapping[str, Any], metric: str) -> float | None:
    return stats.as_float((record.get("summary") or {}).get(metric))


def metric_value(record: Mapping[str, Any], metric: str) -> float | None:
    """The run's finite summary value of ``metric``; None when missing, not a number, or
    diverged (NaN or ±inf: see :func:`diverged_value`)."""
    value = _number(record, metric)
    return value if value is not None and math.isfinite(value) else None


def diverged_value(record: Mapping[str, Any], metric: str) -> str | None:
    """``"nan"``, ``"inf"`` or ``"-inf"`` when the run logged a non-finite ``metric``, else None."""
    value = _number(record, metric)
    return None if value is None or math.isfinite(value) else str(value)


def is_plain_run(record: Mapping[str, Any]) -> bool:
    """Completed, not smoke, not an ablation, not a replay (a replay repeats a seed, it is no
    new evidence): the runs blame, lineage and plot count."""
    return (
        record.get("status") == "completed"
        and not record.get("smoke")
        and record.get("ablation_of") is None
        and record.get("replay_of") is None
    )


@dataclass(frozen=True)
class SeedEvidence:
    """The runs of one group (an experiment, a code state) as seed samples.

    ``summary`` is over seeds: ``summary.n`` is the number of distinct seeds, not of runs.
    """

    summary: stats.Summary
    runs: int  # runs whose finite value went into the summary
    seed_values: Mapping[int, float]  # the value of each recorded seed
    diverged: int = 0  # runs whose value was NaN or ±inf, left out of the summary
    diverged_kinds: tuple[str, ...] = ()  # "nan", "inf", "-inf": the ones seen, sorted


def by_seed(runs: Sequence[Mapping[str, Any]], metric: str) -> SeedEvidence:
    """One value per distinct seed: the mean of that seed's runs with a finite value.

    Re-launching a seed is a second measurement of the same sample, not a new sample:
    counting it again would shrink the std towards 0 (on deterministic CPU runs exactly 0,
    turning any tiny change into ±inf σ). Its runs are averaged rather than keeping only the
    latest so that every measurement counts and the result does not depend on launch order
    (on nondeterministic GPU kernels repeated runs of a seed differ slightly). A run without
    a recorded seed cannot be matched with any other, so it counts as its own sample.
    Non-finite values are never averaged in: they are counted as diverged.
    """
    groups: dict[object, list[float]] = {}
    kinds: set[str] = set()
    diverged = 0
    for i, record in enumerate(runs):
        value = metric_value(record, metric)
        if value is None:
            kind = diverged_value(record, metric)
            if kind is not None:
                diverged += 1
                kinds.add(kind)
            continue
        seed = record.get("seed")
        key: object = seed if isinstance(seed, int) and not isinstance(seed, bool) else ("run", i)
        groups.setdefault(key, []).append(value)
    means = {key: math.fsum(values) / len(values) for key, values in groups.items()}
    return SeedEvidence(
        summary=stats.summarize(list(means.values())),
        runs=sum(len(values) for values in groups.values()),
        seed_values={k: v for k, v in means.items() if isinstance(k, int)},
        diverged=diverged,
        diverged_kinds=tuple(sorted(kinds)),
    )
