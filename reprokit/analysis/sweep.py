"""``reprokit sweep METRIC PARENT``: the children of one experiment side by side on a metric.

The view of a sweep written by ``reprokit new --set a=1,2,3``: one row for the parent and
one per direct child (by id), with the config fields that differ from the parent as
columns, the metric's mean ± σ over seeds, and the move from the parent in pooled seed σ.
Each child is compared with the parent exactly as ``blame`` compares a step (the same
``blame`` call on the two-file chain), so the two commands never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reprokit import stats
from reprokit.analysis.blame_steps import Step
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery as exp_mod
from reprokit.paths import rel_path, user_path
from reprokit.settings import Settings
from reprokit.tables import format_config_value, format_mean, render_table, safe_text


def _parent_and_children(
    target: str, settings: Settings
) -> tuple[exp_mod.ExperimentFile, list[exp_mod.ExperimentFile]]:
    path = user_path(target, settings)
    members = exp_mod.family_members(path.parent) if path.is_file() else []
    parent = next((m for m in members if m.path == path), None)
    if parent is None:
        raise ReprokitError(
            f"{target}: not an experiment file",
            hint="give the parent of the sweep, e.g. one `reprokit lineage` lists",
        )
    children = sorted(
        (m for m in members if m.parsed.parent == parent.parsed.id and not m.parsed.is_base),
        key=lambda m: m.parsed.id,
    )
    if not children:
        raise ReprokitError(
            f"{target}: no experiment derives from it",
            hint=f"write a sweep with: reprokit new {target} NAME --set PATH=V1,V2,V3",
        )
    return parent, children


def sweep(
    metric: str, target: str, *, settings: Settings, direction: str | None = None
) -> tuple[Step, list[Step]]:
    """The parent's step and one step per child (compared with the parent), by id."""
    from reprokit.analysis.blame import blame
    from reprokit.analysis.blame_targets import load_chain_records

    parent, children = _parent_and_children(target, settings)
    files = [parent, *children]
    records = load_chain_records(settings, [rel_path(f.path, settings.root) for f in files])
    direction = stats.infer_direction(metric, settings.metric_directions, direction)
    steps: list[Step] = []
    for child in children:
        try:
            base, step = blame(
                metric,
                child.path,
                settings=settings,
                direction=direction,
                records=records,
                chain=[parent, child],
            )
        except ReprokitError:
            # Neither has a run with the metric; only an error when no file of the sweep has.
            if any(_measured(recs, metric) for recs in records.values()):
                base, step = _unmeasured(parent, settings), _unmeasured(child, settings)
            else:
                raise
        steps.append(step)
    return base, steps


def _measured(records: Sequence[Mapping[str, Any]], metric: str) -> bool:
    from reprokit.analysis.evidence import is_plain_run

    return any(is_plain_run(r) and metric in (r.get("summary") or {}) for r in records)


def _unmeasured(exp: exp_mod.ExperimentFile, settings: Settings) -> Step:
    return Step(
        id=exp.parsed.id_str,
        name=exp.parsed.name,
        path=rel_path(exp.path, settings.root),
        runs=0,
        mean=None,
        std=None,
        delta=None,
        delta_sigma=None,
        verdict="no data",
        changes=(),
        config_from="file",
        code_states=(),
    )


def _sigma_text(units: float | None) -> str:
    if units is None:
        return "-"
    return f"{units:+.1f}σ" if math.isfinite(units) else "σ = 0"


def render(metric: str, base: Step, steps: Sequence[Step], direction: str | None) -> str:
    """The table: parent first, then each child; a column per field that differs."""
    fields: list[str] = []
    for step in steps:
        fields += [c.path for c in step.changes if c.path not in fields]
    parent_values = {c.path: c.old for step in steps for c in step.changes}
    header = ["experiment", *fields, "runs", metric, "Δ", "Δ/σ", "verdict"]
    body = [
        [
            Path(base.path).name,
            *(format_config_value(parent_values[f]) for f in fields),
            *(str(base.runs), format_mean(base.mean, base.std), "", "", "(parent)"),
        ]
    ]
    for step in steps:
        new = {c.path: c.new for c in step.changes}
        values = [format_config_value(new.get(f, parent_values[f])) for f in fields]
        delta = "-" if step.delta is None else f"{step.delta:+.4g}"
        body.append(
            [
                Path(step.path).name,
                *values,
                *(str(step.runs), format_mean(step.mean, step.std), delta),
                *(_sigma_text(step.delta_sigma), step.verdict),
            ]
        )
    numeric = {len(fields) + i for i in (1, 2, 3, 4)}
    better = "direction unknown" if direction is None else f"{direction} is better"
    head = f"{metric} over the children of {base.path} ({better}; mean ± σ over seeds)\n"
    return head + render_table(header, body, numeric)


def sweep_command(
    metric: str, target: str, *, settings: Settings, direction: str | None = None
) -> int:
    """Print the sweep view of ``target``'s children on ``metric``."""
    base, steps = sweep(metric, target, settings=settings, direction=direction)
    resolved = stats.infer_direction(metric, settings.metric_directions, direction)
    print(safe_text(render(metric, base, steps, resolved), lines=True), end="")
    return 0
