"""``reprokit blame METRIC TARGET``: which step along the lineage moved a metric, and by how much.

Each step compares the seeds of an experiment with the seeds of its parent, in units of the
pooled seed standard deviation, and names the config fields that changed, taken from the
configs recorded with the runs (what ``main`` really received), not from today's files.
Runs of one experiment made at different code states are split so a code change that moved
the metric is visible instead of being averaged away.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprokit import experiment as exp_mod, stats
from reprokit.errors import ReprokitError
from reprokit.settings import Settings


@dataclass(frozen=True)
class Change:
    """One config field that differs between a step and its parent (None when absent)."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class CodeState:
    """The runs of one experiment made at one code state (HEAD sha + snapshot content)."""

    sha: str | None
    dirty: bool
    snapshot: str | None
    runs: int
    mean: float | None
    std: float | None
    commits_since_previous: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ablation:
    """The effect of changing one field alone (single-field variant vs the parent)."""

    field: str
    delta: float | None
    delta_sigma: float | None
    runs: int


@dataclass(frozen=True)
class Step:
    """One experiment along the chain, compared with its parent."""

    id: str
    name: str
    path: str
    runs: int
    mean: float | None
    std: float | None
    delta: float | None
    delta_sigma: float | None
    verdict: str
    changes: tuple[Change, ...]
    config_from: str  # "runs" (recorded config.yaml) or "file" (never run: today's file)
    code_states: tuple[CodeState, ...]
    ablation: tuple[Ablation, ...] | None = None
    interaction: float | None = None
    ablation_warning: str | None = None
    # Values used by --ablate; not part of the output.
    config: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    seeds: tuple[int, ...] = field(default=(), repr=False, compare=False)
    seed_values: Mapping[int, float] = field(default_factory=dict, repr=False, compare=False)
    std_parts: stats.Summary = field(
        default=stats.Summary(0, None, None), repr=False, compare=False
    )

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` structure of one step."""
        out: dict[str, Any] = {
            "experiment": {"id": self.id, "name": self.name, "path": self.path},
            "runs": self.runs,
            "mean": _num(self.mean),
            "std": _num(self.std),
            "delta": _num(self.delta),
            "delta_sigma": _num(self.delta_sigma),
            "verdict": self.verdict,
            "config_from": self.config_from,
            "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in self.changes],
            "code_states": [
                {
                    "sha": s.sha,
                    "dirty": s.dirty,
                    "snapshot": s.snapshot,
                    "runs": s.runs,
                    "mean": _num(s.mean),
                    "std": _num(s.std),
                    "commits_since_previous": list(s.commits_since_previous),
                }
                for s in self.code_states
            ],
        }
        if self.ablation is not None:
            out["ablation"] = [
                {
                    "field": a.field,
                    "delta": _num(a.delta),
                    "delta_sigma": _num(a.delta_sigma),
                    "runs": a.runs,
                }
                for a in self.ablation
            ]
            out["interaction"] = _num(self.interaction)
            out["ablation_warning"] = self.ablation_warning
        return out


def _num(value: float | None) -> float | str | None:
    # JSON has no infinity; an exact-agreement sigma of 0 gives "inf" as a string.
    if value is not None and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def metric_value(record: Mapping[str, Any], metric: str) -> float | None:
    """The run's summary value of ``metric`` as a float, None when missing or not a number."""
    value = (record.get("summary") or {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def is_plain_run(record: Mapping[str, Any]) -> bool:
    """Completed, not smoke, not an ablation, not a replay (a replay repeats a seed, it is no
    new evidence): the runs blame, lineage and plot count."""
    return (
        record.get("status") == "completed"
        and not record.get("smoke")
        and record.get("ablation_of") is None
        and record.get("replay_of") is None
    )


def user_path(text: str | Path, settings: Settings) -> Path:
    """A path the user typed: as given (relative to the current folder), else under the root."""
    path = Path(text)
    if path.is_absolute() or path.exists() or not (settings.root / path).exists():
        return path.resolve()
    return (settings.root / path).resolve()


def resolve_targets(target: str, settings: Settings) -> tuple[list[Path], bool]:
    """An experiment file, a run (its experiment), or a family folder (its leaves, True)."""
    from reprokit.store import resolve_run
    from reprokit.where import read_record

    path = user_path(target, settings)
    if path.suffix == ".py":
        if not path.is_file():
            raise ReprokitError(f"{target}: no such experiment file")
        return [path.resolve()], False
    if path.is_dir() and not (path / "run.json").is_file():
        members = exp_mod.family_members(path)
        if not members:
            raise ReprokitError(
                f"{target}: no experiment files in this folder",
                hint="pass an experiment file, run_N, or a family folder",
            )
        parents = {m.parsed.parent for m in members if not m.parsed.is_base}
        return [m.path for m in members if m.parsed.id not in parents], True
    record = read_record(resolve_run(target, settings))
    rel = (record.get("experiment") or {}).get("path")
    if not rel:
        raise ReprokitError(f"{target}: the run record names no experiment")
    return [(settings.root / rel).resolve()], False


def _chains(leaves: Sequence[Path]) -> dict[Path, list[exp_mod.ExperimentFile]]:
    """The lineage of every leaf of one family, listing the folder once (not once per leaf);
    a broken chain goes through ``experiment.lineage`` for its error message."""
    members = exp_mod.family_members(leaves[0].parent) if leaves else []
    by_id = {m.parsed.id: m for m in members}
    by_path = {m.path: m for m in members}
    chains: dict[Path, list[exp_mod.ExperimentFile]] = {}
    for leaf in leaves:
        chain = [by_path[leaf]]
        while not chain[-1].parsed.is_base:
            parent = by_id.get(chain[-1].parsed.parent)
            if parent is None or parent.parsed.id >= chain[-1].parsed.id:
                chain = exp_mod.lineage(leaf)[::-1]  # raises with the reason
                break
            chain.append(parent)
        chains[leaf] = chain[::-1]
    return chains


def rel_path(path: Path, settings: Settings) -> str:
    """The experiment path as run.json records it: relative to the root, posix."""
    try:
        return path.resolve().relative_to(settings.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def load_chain_records(
    settings: Settings, rel_paths: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The records of the given experiments (smoke and ablation runs included), by
    experiment path, oldest first. Read through the index: only these runs are decoded."""
    from reprokit.query import light_record, load_runs

    by_exp: dict[str, list[dict[str, Any]]] = {p: [] for p in rel_paths}
    for row in reversed(load_runs(settings, include_all=True)):
        if row.experiment in by_exp:
            # The index columns hold all blame reads except the ablation marker and the
            # snapshot of a dirty run; decode the stored record only for those.
            full = row.ablation or row.git_dirty
            by_exp[row.experiment].append(row.as_record() if full else light_record(row))
    return by_exp


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
    from reprokit import configio

    data = configio.to_data(config)
    return (dict(data) if isinstance(data, Mapping) else {}), "file"


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Dotted-path differences in field order (``configio.diff``); seeds excluded, since
    every seed of a step is compared, not one."""
    from reprokit import configio

    return [
        Change(c.path, c.old, c.new)
        for c in configio.diff(dict(old), dict(new))
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
    rels = [rel_path(e.path, settings) for e in chain]
    by_exp = records if records is not None else load_chain_records(settings, rels)
    direction = stats.infer_direction(metric, settings.metric_directions, direction)
    steps: list[Step] = []
    for exp, rel in zip(chain, rels, strict=True):
        recs = list(by_exp.get(rel, []))
        measured = [r for r in recs if is_plain_run(r) and metric_value(r, metric) is not None]
        summary = stats.summarize(
            [v for r in measured if (v := metric_value(r, metric)) is not None]
        )
        config, source = config_of(exp.path, recs, settings)
        delta = sigma_units = None
        changes: list[Change] = []
        if steps:
            parent = steps[-1]
            changes = config_changes(parent.config, config)
            if summary.mean is not None and parent.mean is not None:
                delta = summary.mean - parent.mean
                sigma_units = stats.delta_sigma(delta, stats.pooled_std(parent.std_parts, summary))
        verdict = stats.verdict(delta, sigma_units, direction) if steps else ""
        steps.append(
            Step(
                id=exp.parsed.id_str,
                name=exp.parsed.name,
                path=rel,
                runs=summary.n,
                mean=summary.mean,
                std=summary.std,
                delta=delta,
                delta_sigma=sigma_units,
                verdict=verdict,
                changes=tuple(changes),
                config_from=source,
                code_states=tuple(code_states(measured, metric, settings.root)),
                config=config,
                seeds=tuple(
                    sorted({r["seed"] for r in measured if isinstance(r.get("seed"), int)})
                ),
                std_parts=summary,
                seed_values=_seed_values(measured, metric),
            )
        )
    if not any(step.runs for step in steps):
        _unknown_metric(metric, [r for recs in by_exp.values() for r in recs if is_plain_run(r)])
    return steps


def _unknown_metric(metric: str, runs: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a metric that no completed run of the chain logged, naming close matches."""
    import difflib

    names = sorted({k for r in runs for k in (r.get("summary") or {})})
    if not names:
        return  # nothing ran yet: the table (all 0 runs) says so
    close = difflib.get_close_matches(metric, names, n=3)
    raise ReprokitError(
        f"no completed run along this lineage logged {metric!r} in summary.json",
        hint=f"did you mean {', '.join(close)}?"
        if close
        else f"logged metrics: {', '.join(names)}",
    )


def _seed_values(runs: Sequence[Mapping[str, Any]], metric: str) -> dict[int, float]:
    """The metric per seed (the latest run of each seed), for comparisons on equal seeds."""
    out: dict[int, float] = {}
    for record in runs:
        seed, value = record.get("seed"), metric_value(record, metric)
        if isinstance(seed, int) and value is not None:
            out[seed] = value
    return out


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
    paths, is_family = resolve_targets(target, settings)
    chains = _chains(paths) if is_family else {p: exp_mod.lineage(p) for p in paths}
    # One pass over the index for every chain of a family, not one per leaf.
    wanted = sorted({rel_path(e.path, settings) for chain in chains.values() for e in chain})
    records = load_chain_records(settings, wanted)
    for path in paths:
        steps = blame(
            metric,
            path,
            settings=settings,
            direction=direction,
            records=records,
            chain=chains[path],
        )
        if ablate:
            from reprokit.ablate import ablate_steps

            steps = ablate_steps(metric, steps, settings=settings, seeds=seeds, smoke=smoke)
        sections.append((rel_path(path, settings), steps))
    resolved = stats.infer_direction(metric, settings.metric_directions, direction)
    if as_json:
        if is_family:
            data: Any = [
                {"target": t, "steps": [s.to_json() for s in steps]} for t, steps in sections
            ]
        else:
            data = [s.to_json() for s in sections[0][1]]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print("\n\n".join(render(metric, t, steps, resolved) for t, steps in sections))
    return 0


def _run_key(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    git = record.get("git") or {}
    return git.get("sha"), (git.get("snapshot") if git.get("dirty") else None)


def code_states(runs: Sequence[Mapping[str, Any]], metric: str, cwd: Path) -> list[CodeState]:
    """Split runs by code state: HEAD sha, plus the snapshot's tree when the tree was dirty.

    Each run has its own snapshot commit, so dirty runs are grouped by the snapshot's tree
    (same files, same state) rather than by the commit itself.
    """
    ordered = sorted(runs, key=lambda r: str(r.get("started_at") or ""))
    keys = [_run_key(r) for r in ordered]
    snapshots = sorted({snap for _, snap in keys if snap})
    trees = _trees(snapshots, cwd) if len({k[0] for k in keys}) > 1 or len(snapshots) > 1 else {}
    groups: dict[tuple[str | None, str | None], list[Mapping[str, Any]]] = {}
    for record, (sha, snap) in zip(ordered, keys, strict=True):
        groups.setdefault((sha, trees.get(snap, snap) if snap else None), []).append(record)
    states: list[CodeState] = []
    previous_sha: str | None = None
    for (sha, tree), members in groups.items():
        summary = stats.summarize(
            [v for r in members if (v := metric_value(r, metric)) is not None]
        )
        commits: tuple[str, ...] = ()
        if len(groups) > 1 and previous_sha and sha and previous_sha != sha:
            commits = _commits_between(previous_sha, sha, cwd)
        snap = _run_key(members[0])[1] if tree else None
        states.append(
            CodeState(sha, tree is not None, snap, summary.n, summary.mean, summary.std, commits)
        )
        previous_sha = sha
    return states


def _trees(snapshots: Sequence[str], cwd: Path) -> dict[str, str]:
    from reprokit.gitcmd import run_git

    if not snapshots:
        return {}
    out = run_git("rev-parse", *[f"{s}^{{tree}}" for s in snapshots], cwd=cwd, check=False)
    lines = out.decode().split()
    # A snapshot gone from this clone: fall back to grouping by the snapshot commit itself.
    return dict(zip(snapshots, lines, strict=True)) if len(lines) == len(snapshots) else {}


def _commits_between(old: str, new: str, cwd: Path) -> tuple[str, ...]:
    from reprokit.gitcmd import run_git

    try:
        out = run_git("log", "--oneline", "--no-decorate", f"{old}..{new}", cwd=cwd)
    except ReprokitError:
        return ("(commits unavailable: one of the SHAs is not in this clone)",)
    return tuple(line for line in out.decode("utf-8", "replace").splitlines() if line)


def _fmt_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _fmt_mean(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


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


def render(metric: str, target: str, steps: Sequence[Step], direction: str | None) -> str:
    """The blame table of one chain, as printed by ``reprokit blame``."""
    head = ["step", "runs", metric, "Δ vs parent"]
    rows = [
        [f"{s.id} {s.name}", str(s.runs), _fmt_mean(s.mean, s.std), _fmt_delta(s)] for s in steps
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]

    def line(cells: Sequence[str]) -> str:
        text = (
            f"{cells[0]:<{widths[0]}}  {cells[1]:>{widths[1]}}  {cells[2]:<{widths[2]}}  {cells[3]}"
        )
        return text.rstrip()

    out = [f"blame {metric} along {target} ({_direction_text(direction)})", "", line(head)]
    for step, row in zip(steps, rows, strict=True):
        out.append(line(row))
        out.extend(f"    {c.path}: {_fmt_value(c.old)} → {_fmt_value(c.new)}" for c in step.changes)
        if step.config_from == "file":
            out.append("    (never run: config read from today's file)")
        if len(step.code_states) > 1:
            out.append("    code states:")
            labels = [_state_label(state) for state in step.code_states]
            counts = [f"{s.runs} run" + ("" if s.runs == 1 else "s") for s in step.code_states]
            width, runs_width = max(map(len, labels)), max(map(len, counts))
            for state, label, runs in zip(step.code_states, labels, counts, strict=True):
                out.extend(f"        {commit}" for commit in state.commits_since_previous)
                mean = _fmt_mean(state.mean, state.std)
                out.append(f"      {label:<{width}}  {runs:>{runs_width}}  {mean}")
        if step.ablation is not None:
            out.append("    single-field effects:")
            for ab in step.ablation:
                sigma = f" ({ab.delta_sigma:+.1f}σ)" if ab.delta_sigma is not None else ""
                delta = "-" if ab.delta is None else f"{ab.delta:+.4g}{sigma}"
                out.append(f"      {ab.field}: {delta}  [{ab.runs} runs]")
            inter = "-" if step.interaction is None else f"{step.interaction:+.4g}"
            out.append(f"      interaction: {inter}")
            if step.ablation_warning:
                out.append(f"      warning: {step.ablation_warning}")
    return "\n".join(out)
