"""``reprokit blame`` output: the text table of one chain and the ``--json`` structure."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reprokit.tables import format_mean, plural, render_table

if TYPE_CHECKING:
    from reprokit.blame import Step
    from reprokit.codestates import CodeState


def json_number(value: float | None) -> float | str | None:
    """``value`` for JSON, which has no infinity: an exact-agreement sigma of 0 gives "inf"."""
    if value is not None and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def step_json(step: Step) -> dict[str, Any]:
    """The stable ``--json`` structure of one step."""
    out: dict[str, Any] = {
        "experiment": {"id": step.id, "name": step.name, "path": step.path},
        "runs": step.runs,
        "mean": json_number(step.mean),
        "std": json_number(step.std),
        "delta": json_number(step.delta),
        "delta_sigma": json_number(step.delta_sigma),
        "verdict": step.verdict,
        "config_from": step.config_from,
        "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in step.changes],
        "code_states": [
            {
                "sha": s.sha,
                "dirty": s.dirty,
                "snapshot": s.snapshot,
                "runs": s.runs,
                "mean": json_number(s.mean),
                "std": json_number(s.std),
                "commits_since_previous": list(s.commits_since_previous),
            }
            for s in step.code_states
        ],
    }
    if step.ablation is not None:
        out["ablation"] = [
            {
                "field": a.field,
                "delta": json_number(a.delta),
                "delta_sigma": json_number(a.delta_sigma),
                "runs": a.runs,
            }
            for a in step.ablation
        ]
        out["interaction"] = json_number(step.interaction)
        out["ablation_warning"] = step.ablation_warning
    return out


def _fmt_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _fmt_delta(step: Step) -> str:
    if step.delta is None:
        return ""
    text = f"{step.delta:+.4g}"
    if step.delta_sigma is not None:
        text += f" ({step.delta_sigma:+.1f}σ)"
    mark = "▲" if step.delta > 0 else "▼" if step.delta < 0 else "="
    return f"{text} {mark} {step.verdict}"


def _direction_text(direction: str | None) -> str:
    if direction is None:
        return "direction unknown: pass --higher-is-better or --lower-is-better"
    return f"{direction} is better"


def _state_label(state: CodeState) -> str:
    """``1a2b3c4`` for a clean commit; ``1a2b3c4+dirty@9f8e7d6`` names the snapshot too, since
    several dirty states can share one HEAD."""
    label = (state.sha or "no-git")[:7]
    if state.dirty:
        label += f"+dirty@{(state.snapshot or '?')[:7]}"
    return label


def _code_state_lines(states: Sequence[CodeState]) -> list[str]:
    out = ["    code states:"]
    labels = [_state_label(state) for state in states]
    counts = [plural(s.runs, "run") for s in states]
    width, runs_width = max(map(len, labels)), max(map(len, counts))
    for state, label, runs in zip(states, labels, counts, strict=True):
        out.extend(f"        {commit}" for commit in state.commits_since_previous)
        mean = format_mean(state.mean, state.std)
        out.append(f"      {label:<{width}}  {runs:>{runs_width}}  {mean}")
    return out


def _ablation_lines(step: Step) -> list[str]:
    out = ["    single-field effects:"]
    for ab in step.ablation or ():
        sigma = f" ({ab.delta_sigma:+.1f}σ)" if ab.delta_sigma is not None else ""
        delta = "-" if ab.delta is None else f"{ab.delta:+.4g}{sigma}"
        out.append(f"      {ab.field}: {delta}  [{ab.runs} runs]")
    inter = "-" if step.interaction is None else f"{step.interaction:+.4g}"
    out.append(f"      interaction: {inter}")
    if step.ablation_warning:
        out.append(f"      warning: {step.ablation_warning}")
    return out


def render(metric: str, target: str, steps: Sequence[Step], direction: str | None) -> str:
    """The blame table of one chain, as printed by ``reprokit blame``."""
    rows = [
        [f"{s.id} {s.name}", str(s.runs), format_mean(s.mean, s.std), _fmt_delta(s)] for s in steps
    ]
    table = render_table(["step", "runs", metric, "Δ vs parent"], rows, numeric={1}).splitlines()
    out = [f"blame {metric} along {target} ({_direction_text(direction)})", "", table[0]]
    for step, line in zip(steps, table[1:], strict=True):
        out.append(line)
        out.extend(f"    {c.path}: {_fmt_value(c.old)} → {_fmt_value(c.new)}" for c in step.changes)
        if step.config_from == "file":
            out.append("    (never run: config read from today's file)")
        if len(step.code_states) > 1:
            out.extend(_code_state_lines(step.code_states))
        if step.ablation is not None:
            out.extend(_ablation_lines(step))
    return "\n".join(out)
