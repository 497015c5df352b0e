"""``reprokit blame METRIC TARGET``: which step along the lineage moved a metric, and by how much.

Each step compares the seeds of an experiment with the seeds of its parent, in units of the
pooled seed standard deviation, and names the config fields that changed, taken from the
configs recorded with the runs (what ``main`` really received), not from today's files.
Statistics take one value per distinct seed (:func:`reprokit.analysis.evidence.by_seed`); runs whose
metric is NaN or ±inf are counted as diverged and left out of them.
Runs of one experiment made at different code states are split (:mod:`reprokit.analysis.codestates`)
so a code change that moved the metric is visible instead of being averaged away. The text
and JSON output are :mod:`reprokit.analysis.blame_render`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reprokit import stats
from reprokit.analysis.blame_render import render
from reprokit.analysis.blame_steps import Ablation, Change, SameCode, Step
from reprokit.analysis.blame_targets import family_chains, load_chain_records, resolve_targets
from reprokit.analysis.codestates import CodeState, code_states, known_trees, state_key
from reprokit.analysis.evidence import by_seed, diverged_value, is_plain_run, metric_value
from reprokit.analysis.lineage import unfinished
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery as exp_mod
from reprokit.paths import rel_path
from reprokit.settings import Settings
from reprokit.tables import json_text, safe_text

__all__ = [
    "Ablation",
    "Change",
    "CodeState",
    "SameCode",
    "Step",
    "blame",
    "blame_command",
    "is_plain_run",
    "metric_value",
    "render",
]


def config_of(
    path: Path, records: Sequence[Mapping[str, Any]], settings: Settings
) -> tuple[dict[str, Any], str]:
    """The latest recorded config of plain runs, else today's file imported (``"file"``)."""
    for record in reversed(records):
        if is_plain_run(record) and isinstance(record.get("config"), dict):
            return dict(record["config"]), "runs"
    module = exp_mod.import_experiment(path, settings)
    config = getattr(module, "config", None)
    if config is None:
        raise ReprokitError(
            f"{path}: no module-level `config`", hint="define `config = Config(...)`"
        )
    from reprokit.config import codec

    data = codec.to_data(config)
    return (dict(data) if isinstance(data, Mapping) else {}), "file"


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Dotted-path differences in field order (``codec.diff``); seeds excluded, since
    every seed of a step is compared, not one."""
    from reprokit.config import codec

    return [
        Change(c.path, c.old, c.new)
        for c in codec.diff(dict(old), dict(new))
        if c.path.rsplit(".", 1)[-1] != "seed"
    ]


def blame(
    metric: str,
    target: Path,
    *,
    settings: Settings,
    direction: str | None = None,
    records: Mapping[str, list[dict[str, Any]]] | None = None,
    chain: Sequence[exp_mod.ExperimentFile] | None = None,
) -> list[Step]:
    """The steps from the family's base down to ``target`` for ``metric`` (base first).

    ``records`` (by experiment path) and ``chain`` may be passed when already at hand."""
    chain = chain if chain is not None else exp_mod.lineage(target)
    rels = [rel_path(e.path, settings.root) for e in chain]
    by_exp = records if records is not None else load_chain_records(settings, rels)
    direction = stats.infer_direction(metric, settings.metric_directions, direction)
    # Runs that logged the metric as a number, finite or diverged (NaN, ±inf).
    measured_by_exp = {
        rel: [r for r in by_exp.get(rel, []) if is_plain_run(r) and _logged(r, metric)]
        for rel in rels
    }
    trees = _chain_trees(measured_by_exp.values(), settings.root)
    steps: list[Step] = []
    previous: list[dict[str, Any]] = []
    for exp, rel in zip(chain, rels, strict=True):
        recs = list(by_exp.get(rel, []))
        measured = measured_by_exp[rel]
        evidence = by_seed(measured, metric)
        summary = evidence.summary
        config, source = config_of(exp.path, recs, settings)
        delta = sigma = sigma_units = None
        changes: list[Change] = []
        if steps:
            parent = steps[-1]
            changes = config_changes(parent.config, config)
            if summary.mean is not None and parent.mean is not None:
                delta = summary.mean - parent.mean
                sigma = stats.pooled_std(parent.std_parts, summary)
                sigma_units = stats.delta_sigma(delta, sigma)
        verdict = stats.verdict(delta, sigma_units, direction) if steps else ""
        same_code = (
            _same_code(previous, measured, metric, trees, direction, settings.root)
            if steps
            else None
        )
        states = tuple(code_states(measured, metric, settings.root))
        steps.append(
            Step(
                id=exp.parsed.id_str,
                name=exp.parsed.name,
                path=rel,
                runs=evidence.runs,
                mean=summary.mean,
                std=summary.std,
                delta=delta,
                delta_sigma=sigma_units,
                verdict=verdict,
                changes=tuple(changes),
                config_from=source,
                code_states=states,
                same_code=same_code,
                sigma=sigma,
                diverged=evidence.diverged,
                diverged_kinds=evidence.diverged_kinds,
                run_ids=_run_ids(measured, metric),
                unfinished=unfinished(recs),
                config=config,
                seeds=tuple(sorted(evidence.seed_values)),
                std_parts=summary,
                seed_values=evidence.seed_values,
            )
        )
        previous = measured
    if not any(step.runs or step.diverged for step in steps):
        _unknown_metric(metric, [r for recs in by_exp.values() for r in recs if is_plain_run(r)])
    return steps


def _run_ids(runs: Sequence[Mapping[str, Any]], metric: str) -> tuple[str, ...]:
    """The ids of the runs with a finite value (those ``Step.runs`` counts), by number."""
    from reprokit.record.store import run_number

    ids = {str(r.get("id")) for r in runs if metric_value(r, metric) is not None}
    return tuple(sorted(ids, key=lambda i: (run_number(i) is None, run_number(i) or 0, i)))


def _chain_trees(runs_by_exp: Iterable[Sequence[Mapping[str, Any]]], cwd: Path) -> dict[str, str]:
    """The tree of every dirty snapshot along the chain, so code states can be matched
    across experiments (recorded at launch; older records ask git once)."""
    return known_trees([r for runs in runs_by_exp for r in runs], cwd)


def _same_code(
    parent_runs: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    metric: str,
    trees: Mapping[str, str],
    direction: str | None,
    root: Path,
) -> SameCode | None:
    """The step vs its parent at the latest code state both ran at; None unless one of
    them ran at several code states (``SameCode(None)``: they never ran at the same)."""
    parent_at: dict[Any, list[Mapping[str, Any]]] = {}
    child_at: dict[Any, list[Mapping[str, Any]]] = {}
    for group, members in ((parent_at, parent_runs), (child_at, runs)):
        for record in members:
            group.setdefault(state_key(record, trees), []).append(record)
    # One code state on each side is the everyday case (run the parent, commit the child,
    # run it): the commits in between are then the child's own change, not a code move.
    if len(parent_at) <= 1 and len(child_at) <= 1:
        return None
    shared = parent_at.keys() & child_at.keys()
    if not shared:
        return SameCode(None)

    def latest(key: Any) -> str:
        return max(str(r.get("started_at") or "") for r in child_at[key] + parent_at[key])

    key = max(shared, key=latest)
    mine, theirs = by_seed(child_at[key], metric), by_seed(parent_at[key], metric)
    (state,) = code_states(child_at[key], metric, root)
    delta = sigma_units = None
    if mine.summary.mean is not None and theirs.summary.mean is not None:
        delta = mine.summary.mean - theirs.summary.mean
        sigma_units = stats.delta_sigma(delta, stats.pooled_std(theirs.summary, mine.summary))
    return SameCode(
        state,
        runs=mine.runs,
        parent_runs=theirs.runs,
        delta=delta,
        delta_sigma=sigma_units,
        verdict=stats.verdict(delta, sigma_units, direction),
    )


def _unknown_metric(metric: str, runs: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a metric that no completed run of the chain logged, naming close matches."""
    from reprokit.tables import did_you_mean

    names = sorted({k for r in runs for k in (r.get("summary") or {})})
    if not names:
        return  # nothing ran yet: the table (all 0 runs) says so
    raise ReprokitError(
        f"no completed run along this lineage logged {metric!r} in summary.json",
        hint=did_you_mean(metric, names, f"logged metrics: {', '.join(names)}"),
    )


def _logged(record: Mapping[str, Any], metric: str) -> bool:
    return metric_value(record, metric) is not None or diverged_value(record, metric) is not None


def blame_command(
    metric: str,
    target: str,
    *,
    settings: Settings,
    as_json: bool,
    ablate: bool,
    seeds: int,
    smoke: bool,
    direction: str | None,
) -> int:
    """Print the blame of ``metric`` along each chain ending at ``target``.

    ``--json`` prints the list of steps (:meth:`Step.to_json`); for a family folder, a list
    of ``{"target": leaf path, "steps": [...]}``, one per leaf.
    """
    sections: list[tuple[str, list[Step]]] = []
    resolved = stats.infer_direction(metric, settings.metric_directions, direction)
    paths, is_family = resolve_targets(target, settings)
    chains = family_chains(paths) if is_family else {p: exp_mod.lineage(p) for p in paths}
    # One pass over the index for every chain of a family, not one per leaf.
    wanted = sorted({rel_path(e.path, settings.root) for chain in chains.values() for e in chain})
    records = load_chain_records(settings, wanted)
    for path in paths:
        steps = blame(
            metric,
            path,
            settings=settings,
            direction=resolved,
            records=records,
            chain=chains[path],
        )
        if ablate:
            from reprokit.analysis.blame_ablate import ablate_steps

            steps = ablate_steps(metric, steps, settings=settings, seeds=seeds, smoke=smoke)
        sections.append((rel_path(path, settings.root), steps))
    if as_json:
        if is_family:
            data: Any = [
                {"target": t, "steps": [s.to_json() for s in steps]} for t, steps in sections
            ]
        else:
            data = [s.to_json() for s in sections[0][1]]
        # allow_nan=False: the output is strict JSON (step_json turns non-finite numbers
        # into null), so a NaN slipping through fails loudly here rather than in a parser.
        print(json_text(data, indent=2, allow_nan=False))
        return 0
    text = "\n\n".join(render(metric, t, steps, resolved) for t, steps in sections)
    print(safe_text(text, lines=True))
    return 0
