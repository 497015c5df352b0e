"""What ``reprokit blame`` looks at: the chains a target names and the records of their runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.experiments import discovery as exp_mod
from reprokit.paths import user_path
from reprokit.settings import Settings
from reprokit.tables import did_you_mean


def resolve_targets(target: str, settings: Settings) -> tuple[list[Path], bool]:
    """An experiment file, a run (its experiment), or a family folder (its leaves, True)."""
    from reprokit.analysis.where import read_record
    from reprokit.record.store import resolve_run

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
                hint=family_hint(target, path, settings),
            )
        parents = {m.parsed.parent for m in members if not m.parsed.is_base}
        return [m.path for m in members if m.parsed.id not in parents], True
    run_dir = resolve_run(target, settings)
    record = read_record(run_dir)
    rel = (record.get("experiment") or {}).get("path")
    if not rel:
        raise ReprokitError(f"{target}: the run record names no experiment")
    # A record from someone else must not name a file outside the experiments folder
    # (one shipped inside the run folder, say), which `blame --ablate` would launch.
    from reprokit.record import trust

    record_file = run_dir / "run.json"
    path = trust.path_inside(
        rel, settings.root, record_file, "experiment.path", folder_name="the project"
    )
    if not trust.is_inside(path, settings.experiments):
        raise trust.refusal(
            record_file, "experiment.path", f"is not inside {settings.experiments}", rel
        )
    return [path.resolve()], False


def family_hint(target: str, folder: Path, settings: Settings) -> str:
    """The hint for a folder that is no family: the family folders under it (a folder
    above the families, ``experiments/toy``), else close names among the project's
    families as ``reprokit lineage`` suggests them (:func:`reprokit.analysis.lineage.families`)."""
    from reprokit.analysis.lineage import families
    from reprokit.paths import rel_path

    existing = families(settings, None)
    below = [f for f in existing if folder.resolve() in f.parents]
    if below:
        names = [rel_path(f, settings.root) for f in below]
        return f"did you mean {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}?"
    otherwise = "pass an experiment file, run_N, or a family folder"
    return did_you_mean(target, [rel_path(f, settings.root) for f in existing], otherwise)


def family_chains(leaves: Sequence[Path]) -> dict[Path, list[exp_mod.ExperimentFile]]:
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


def load_chain_records(
    settings: Settings, rel_paths: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The records of the given experiments (smoke and ablation runs included), by
    experiment path, oldest first. Read through the index: only these runs are decoded."""
    from reprokit.analysis.rows import light_record, load_runs

    by_exp: dict[str, list[dict[str, Any]]] = {p: [] for p in rel_paths}
    for row in reversed(load_runs(settings, include_all=True)):
        if row.experiment in by_exp:
            # The index columns hold all blame reads except the ablation marker and the
            # snapshot of a dirty run; decode the stored record only for those.
            full = row.ablation or row.git_dirty
            by_exp[row.experiment].append(row.as_record() if full else light_record(row))
    return by_exp
