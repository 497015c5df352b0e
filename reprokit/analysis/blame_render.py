"""``reprokit blame`` output: the text table of one chain and the ``--json`` structure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reprokit.tables import format_config_value, format_mean, plural, render_table

if TYPE_CHECKING:
    from reprokit.analysis.blame_steps import Step
    from reprokit.analysis.codestates import CodeState


def json_number(value: float | None) -> float | None:
    """``value`` for strict JSON, which has no NaN or infinity: a finite number or null.

    ``delta_sigma`` is infinite when the seeds agree exactly (pooled σ = 0) and the mean
    moved; it is then null, and the step's ``sigma`` of 0 says why (``verdict`` still
    judges the move)."""
    return value if value is not None and math.isfinite(value) else None


def json_value(value: Any) -> Any:
    """A config value for strict JSON: a non-finite float as its text (``"nan"``, ``"inf"``,
    ``"-inf"``, as the codec writes configs to JSON), since a config may hold one on
    purpose and null would read as "field absent"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def step_json(step: Step) -> dict[str, Any]:
    """The stable ``--json`` structure of one step.

    ``runs`` counts the runs with a finite value, ``seeds`` the distinct seeds among them
    (the n of ``mean``/``std``: one value per seed); ``diverged`` counts the runs whose value
    was NaN or ±inf, left out (``diverged_values``: which of "nan", "inf", "-inf").
    ``sigma`` is the pooled seed std; numbers are finite or null, never NaN/Infinity.
    ``run_ids`` are the ids of the runs ``runs`` counts, by run number; ``mixed_code`` is
    true when the step or its parent ran at several code states, so ``delta`` mixes a code
    change into the config change (``same_code`` then compares like with like). The base
    has no parent and no ``delta``: its ``mixed_code`` is false, its code states are in
    ``code_states``."""
    out: dict[str, Any] = {
        "experiment": {"id": step.id, "name": step.name, "path": step.path},
        "runs": step.runs,
        "seeds": step.std_parts.n,
        "diverged": step.diverged,
        "diverged_values": list(step.diverged_kinds),
        "mean": json_number(step.mean),
        "std": json_number(step.std),
        "delta": json_number(step.delta),
        "sigma": json_number(step.sigma),
        "delta_sigma": json_number(step.delta_sigma),
        "verdict": step.verdict,
        "mixed_code": step.same_code is not None,
        "run_ids": list(step.run_ids),
        "config_from": step.config_from,
        "changes": [
            {"path": c.path, "old": json_value(c.old), "new": json_value(c.new)}
            for c in step.changes
        ],
        "code_states": [
            {
                "sha": s.sha,
                "dirty": s.dirty,
                "snapshot": s.snapshot,
                "runs": s.runs,
                "seeds": s.seeds,
                "diverged": s.diverged,
                "mean": json_number(s.mean),
                "std": json_number(s.std),
                "commits_since_previous": list(s.commits_since_previous),
            }
            for s in step.code_states
        ],
        "same_code": _same_code_json(step),
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


def _same_code_json(step: Step) -> dict[str, Any] | None:
    """null when step and parent ran at one code state; else the like-for-like comparison
    (``sha``/``snapshot`` null when they never ran at the same code)."""
    same = step.same_code
    if same is None:
        return None
    code = same.code
    return {
        "sha": code.sha if code else None,
        "snapshot": code.snapshot if code else None,
        "runs": same.runs,
        "parent_runs": same.parent_runs,
        "delta": json_number(same.delta),
        "delta_sigma": json_number(same.delta_sigma),
        "verdict": same.verdict,
    }


def _fmt_sigma(units: float | None) -> str:
    """`` (+2.9σ)``; `` (σ = 0)`` when the seeds agree exactly (the move is then beyond any
    measured noise, but "+infσ" reads as a bug); empty without a noise estimate."""
    if units is None:
        return ""
    return f" ({units:+.1f}σ)" if math.isfinite(units) else " (σ = 0)"


def _runs_cell(runs: int, seeds: int) -> str:
    """``3``; ``4 (2 seeds)`` when seeds were re-launched, since the statistics count seeds."""
    return str(runs) if runs == seeds else f"{runs} ({plural(seeds, 'seed')})"


def _diverged_line(count: int, kinds: Sequence[str]) -> str:
    return f"    {plural(count, 'run')} diverged ({', '.join(kinds)}): left out of mean and σ"


def _fmt_delta(step: Step) -> str:
    if step.delta is None:
        return ""
    text = f"{step.delta:+.4g}{_fmt_sigma(step.delta_sigma)}"
    mark = "▲" if step.delta > 0 else "▼" if step.delta < 0 else "="
    # The headline then averages over code states: its verdict must not be read alone
    # (trial: "+0.0σ within noise" above a same-code "+3.0σ worse").
    mixed = ", mixed code" if step.same_code is not None else ""
    return f"{text} {mark} {step.verdict}{mixed}"


def _direction_text(direction: str | None) -> str:
    if direction is None:
        return "direction unknown: pass --higher-is-better or --lower-is-better"
    return f"{direction} is better"


def _state_label(state: CodeState) -> str:
    """``1a2b3c4`` for a clean commit; ``1a2b3c4 + uncommitted train.py [9f8e7d6]`` for a
    dirty tree: the files it changed, and its snapshot, since several dirty states can
    share one HEAD and even change the same files."""
    label = (state.sha or "no-git")[:7]
    if state.dirty:
        names = [name.rsplit("/", 1)[-1] for name in state.changed]
        files = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
        label += f" + uncommitted {files or 'changes'} [{(state.snapshot or '?')[:7]}]"
    return label


def _same_code_line(step: Step) -> str:
    same = step.same_code
    assert same is not None
    if same.code is None:
        return "    never ran at the same code as its parent: the Δ above mixes code and config"
    where = f"{_state_label(same.code)}, {same.runs} vs {same.parent_runs} runs"
    if same.delta is None:
        return f"    at the same code as its parent ({where}): no comparable runs"
    mark = "▲" if same.delta > 0 else "▼" if same.delta < 0 else "="
    delta = f"{same.delta:+.4g}{_fmt_sigma(same.delta_sigma)} {mark} {same.verdict}"
    return f"    at the same code as its parent ({where}): {delta}"


def _code_state_lines(states: Sequence[CodeState]) -> list[str]:
    out = ["    code states:"]
    labels = [_state_label(state) for state in states]
    counts = [
        plural(s.runs, "run")
        + ("" if s.seeds == s.runs else f" ({plural(s.seeds, 'seed')})")
        + (f", {s.diverged} diverged" if s.diverged else "")
        for s in states
    ]
    width, runs_width = max(map(len, labels)), max(map(len, counts))
    for state, label, runs in zip(states, labels, counts, strict=True):
        out.extend(f"        {commit}" for commit in state.commits_since_previous)
        mean = format_mean(state.mean, state.std)
        out.append(f"      {label:<{width}}  {runs:>{runs_width}}  {mean}")
    return out


def _ablation_lines(step: Step) -> list[str]:
    out = ["    single-field effects:"]
    for ab in step.ablation or ():
        delta = "-" if ab.delta is None else f"{ab.delta:+.4g}{_fmt_sigma(ab.delta_sigma)}"
        out.append(f"      {ab.field}: {delta}  [{ab.runs} runs]")
    inter = "-" if step.interaction is None else f"{step.interaction:+.4g}"
    out.append(f"      interaction: {inter}")
    if step.ablation_warning:
        out.append(f"      warning: {step.ablation_warning}")
    return out


def render(metric: str, target: str, steps: Sequence[Step], direction: str | None) -> str:
    """The blame table of one chain, as printed by ``reprokit blame``."""
    rows = [
        [
            f"{s.id} {s.name}",
            _runs_cell(s.runs, s.std_parts.n),
            format_mean(s.mean, s.std),
            _fmt_delta(s),
        ]
        for s in steps
    ]
    table = render_table(["step", "runs", metric, "Δ vs parent"], rows, numeric={1}).splitlines()
    out = [f"blame {metric} along {target} ({_direction_text(direction)})", "", table[0]]
    for step, line in zip(steps, table[1:], strict=True):
        out.append(line)
        out.extend(
            f"    {c.path}: {format_config_value(c.old)} → {format_config_value(c.new)}"
            for c in step.changes
        )
        if step.diverged:
            out.append(_diverged_line(step.diverged, step.diverged_kinds))
        if step.config_from == "file":
            # Runs that all failed are not "never run" (lineage: "0 runs (2 failed)").
            what = f"no completed run: {step.unfinished};" if step.unfinished else "never run:"
            out.append(f"    ({what} config read from today's file)")
        if step.same_code is not None and step.delta is not None:
            out.append(_same_code_line(step))
        if len(step.code_states) > 1:
            out.extend(_code_state_lines(step.code_states))
        if step.ablation is not None:
            out.extend(_ablation_lines(step))
    return "\n".join(out)
