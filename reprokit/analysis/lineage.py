"""``reprokit lineage [FAMILY] [--metric M]``: the tree of experiments by parent, with run
counts and (optionally) a metric's mean ± std per experiment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.experiments import discovery as exp_mod
from reprokit.paths import rel_path
from reprokit.settings import Settings
from reprokit.tables import did_you_mean, format_mean, plural, safe_text

# Statuses of runs that did not complete, in the order lineage names them.
_UNFINISHED = ("failed", "crashed", "interrupted", "running")


def families(settings: Settings, family: Path | None) -> list[Path]:
    """The family folders to show: the one given (or a file's folder), else every folder
    under ``settings.experiments`` holding experiment files."""
    if family is not None:
        from reprokit.paths import user_path

        folder = user_path(family, settings)
        if folder.is_file():
            folder = folder.parent
        if not exp_mod.family_members(folder):
            # Suggest this project's own families, never a made-up example path.
            existing = [rel_path(f, settings.root) for f in families(settings, None)]
            listing = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
            raise ReprokitError(
                f"{family}: {'no experiment files here' if folder.is_dir() else 'no such folder'}",
                hint=did_you_mean(str(family), existing, f"families here: {listing}")
                if existing
                else f"no experiment files under {rel_path(settings.experiments, settings.root)}",
            )
        return [folder]
    folders = {p.parent for p in exp_mod.iter_experiment_paths(settings.experiments)}
    return sorted(f for f in folders if exp_mod.family_members(f))


def render_family(
    folder: Path,
    settings: Settings,
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    metric: str | None,
) -> str:
    """One family as an indented tree (``├─``/``└─``), children under their parent by id."""
    from reprokit.analysis.evidence import by_seed, is_plain_run, metric_value

    members = exp_mod.family_members(folder)
    ids = {m.parsed.id for m in members}
    children: dict[int | None, list[exp_mod.ExperimentFile]] = {}
    for m in members:
        parent = None if m.parsed.is_base or m.parsed.parent not in ids else m.parsed.parent
        children.setdefault(parent, []).append(m)

    def label(m: exp_mod.ExperimentFile) -> str:
        tried = runs.get(rel_path(m.path, settings.root), [])
        recs = [r for r in tried if is_plain_run(r)]
        text = f"{m.path.name}  {plural(len(recs), 'run')}"
        # An experiment that was tried shows it was, though it has `0 runs`.
        if counts := unfinished(tried):
            text += f" ({counts})"
        if not m.parsed.is_base and m.parsed.parent not in ids:
            text += f"  (parent {m.parsed.parent_str} missing)"
        if metric is not None:
            s = by_seed(recs, metric).summary  # one value per seed, as blame counts them
            if s.mean is not None:
                text += f"  {metric} {format_mean(s.mean, s.std)}"
                # The mean may pool runs of different code (a clean commit, a dirty tree, a
                # later commit): say so, and leave the split to blame (a trial's report).
                codes = {r.get("code") for r in recs if metric_value(r, metric) is not None}
                if len(codes) > 1:
                    text += f"  ({len(codes)} code states: see reprokit blame)"
        return text

    lines = [rel_path(folder, settings.root)]

    def walk(parent: int | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, m in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{prefix}{'└─' if last else '├─'} {label(m)}")
            walk(m.parsed.id, prefix + ("   " if last else "│  "))

    walk(None, "")
    return "\n".join(lines)


def unfinished(runs: Sequence[Mapping[str, Any]]) -> str:
    """``1 failed, 1 crashed``: the runs that did not complete (not smoke, ablation or replay
    runs), by status; "" when every run completed."""
    counts = Counter(
        r.get("status")
        for r in runs
        if r.get("status") != "completed"
        and not r.get("smoke")
        and r.get("ablation_of") is None
        and r.get("replay_of") is None
    )
    parts = [f"{counts[s]} {s}" for s in _UNFINISHED if counts[s]]
    return ", ".join(parts)


def _check_metric(
    metric: str, folders: Sequence[Path], settings: Settings, runs: Mapping[str, Sequence[Any]]
) -> None:
    """Refuse a metric no completed run of the shown families logged, as blame does: a typo
    must not print the tree without the metric and exit 0."""
    from reprokit.analysis.evidence import is_plain_run

    shown = {rel_path(f, settings.root) for f in folders}
    names = {
        name
        for exp, recs in runs.items()
        if Path(exp).parent.as_posix() in shown
        for r in recs
        if is_plain_run(r)
        for name in r.get("summary") or {}
    }
    if names and metric not in names:
        where = next(iter(shown)) if len(shown) == 1 else "these families"
        raise ReprokitError(
            f"no completed run in {where} logged {metric!r} in summary.json",
            hint=did_you_mean(metric, names, f"logged metrics: {', '.join(sorted(names))}"),
        )


def lineage_command(family: Path | None, *, settings: Settings, metric: str | None) -> int:
    """Print the lineage tree of one family, or of every family under settings.experiments."""
    from reprokit.analysis.rows import load_runs

    folders = families(settings, family)
    if not folders:
        print(f"no experiments under {settings.experiments}")
        return 0
    by_exp: dict[str, list[dict[str, Any]]] = {}
    for row in load_runs(settings, include_all=False):
        if row.experiment is not None:
            # Only what counting needs: decoding each full record would cost ~50 µs a run.
            slim = {
                "status": row.status,
                "smoke": row.smoke,
                "replay_of": row.replay_of,
                "seed": row.seed,
                "summary": row.summary,
            }
            if metric is not None:
                slim["code"] = row.code  # from the index: no file read
            by_exp.setdefault(row.experiment, []).append(slim)
    if metric is not None:
        _check_metric(metric, folders, settings, by_exp)
    text = "\n\n".join(render_family(f, settings, by_exp, metric) for f in folders)
    print(safe_text(text, lines=True))
    return 0
