"""``reprokit lineage [FAMILY] [--metric M]``: the tree of experiments by parent, with run
counts and (optionally) a metric's mean ± std per experiment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reprokit import experiment as exp_mod, stats
from reprokit.errors import ReprokitError
from reprokit.paths import rel_path
from reprokit.settings import Settings
from reprokit.tables import format_mean, plural


def families(settings: Settings, family: Path | None) -> list[Path]:
    """The family folders to show: the one given (or a file's folder), else every folder
    under ``settings.experiments`` holding experiment files."""
    if family is not None:
        from reprokit.paths import user_path

        folder = user_path(family, settings)
        if folder.is_file():
            folder = folder.parent
        if not exp_mod.family_members(folder):
            raise ReprokitError(
                f"{family}: no experiment files here",
                hint="pass a family folder (e.g. experiments/digits/mlp) or leave it out for all",
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
    from reprokit.evidence import is_plain_run, metric_value

    members = exp_mod.family_members(folder)
    ids = {m.parsed.id for m in members}
    children: dict[int | None, list[exp_mod.ExperimentFile]] = {}
    for m in members:
        parent = None if m.parsed.is_base or m.parsed.parent not in ids else m.parsed.parent
        children.setdefault(parent, []).append(m)

    def label(m: exp_mod.ExperimentFile) -> str:
        recs = [r for r in runs.get(rel_path(m.path, settings.root), []) if is_plain_run(r)]
        text = f"{m.path.name}  {plural(len(recs), 'run')}"
        if not m.parsed.is_base and m.parsed.parent not in ids:
            text += f"  (parent {m.parsed.parent_str} missing)"
        if metric is not None:
            s = stats.summarize([v for r in recs if (v := metric_value(r, metric)) is not None])
            if s.mean is not None:
                text += f"  {metric} {format_mean(s.mean, s.std)}"
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


def lineage_command(family: Path | None, *, settings: Settings, metric: str | None) -> int:
    """Print the lineage tree of one family, or of every family under settings.experiments."""
    from reprokit.query import load_runs

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
                "summary": row.summary,
            }
            by_exp.setdefault(row.experiment, []).append(slim)
    print("\n\n".join(render_family(f, settings, by_exp, metric) for f in folders))
    return 0
