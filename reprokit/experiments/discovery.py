"""Find experiment files, name their modules, walk their declared lineage, import them.

Discovery and lineage are static (file names only); only :func:`import_experiment`
runs user code.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from reprokit.errors import ReprokitError
from reprokit.experiments import naming
from reprokit.settings import Settings

_SKIP_DIRS = {"__pycache__", "node_modules"}


@dataclass(frozen=True)
class ExperimentFile:
    """One experiment file, described from its path alone."""

    path: Path  # absolute
    parsed: naming.ExperimentName

    @property
    def family(self) -> Path:
        return self.path.parent

    @property
    def parent_path(self) -> Path:
        """Where the declared parent should be (it may not exist)."""
        if self.parsed.is_base:
            return self.path
        for sibling in family_members(self.family):
            if sibling.parsed.id == self.parsed.parent:
                return sibling.path
        return self.family / f"<missing parent {self.parsed.parent_str}>"


def iter_experiment_paths(folder: Path) -> list[Path]:
    """Every candidate experiment file under ``folder``, sorted, skipping hidden folders."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if naming.is_candidate(path):
                found.append(path)
    return found


def describe(path: Path) -> ExperimentFile | None:
    parsed = naming.parse(path.name)
    if parsed is None:
        return None
    return ExperimentFile(path.resolve(), parsed)


def family_members(family: Path) -> list[ExperimentFile]:
    """The well-named experiments of one family folder, by id."""
    members = []
    for entry in sorted(family.iterdir()) if family.is_dir() else []:
        if entry.is_file() and naming.is_candidate(entry):
            described = describe(entry)
            if described is not None:
                members.append(described)
    return sorted(members, key=lambda e: (e.parsed.id, e.path.name))


def module_name(path: Path, root: Path) -> str:
    """``experiments/digits/mlp/wide_02_01.py`` -> ``experiments.digits.mlp.wide_02_01``."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError as e:
        raise ReprokitError(
            f"{path}: the experiment is outside the project root {root}",
            hint="run reprokit from the project that holds the experiment",
        ) from e
    return ".".join(rel.with_suffix("").parts)


def lineage(path: Path) -> list[ExperimentFile]:
    """The declared chain from the family's base down to ``path`` (base first).

    Raises ReprokitError when a parent is missing or the chain loops.
    """
    exp = describe(path)
    if exp is None:
        raise ReprokitError(
            f"{path}: not an experiment file name",
            hint="experiments are named <name>_<id>_<parent>.py, e.g. wide_02_01.py",
        )
    by_id: dict[int, ExperimentFile] = {}
    for member in family_members(exp.family):
        by_id.setdefault(member.parsed.id, member)
    chain = [exp]
    seen = {exp.parsed.id}
    current = exp
    while not current.parsed.is_base:
        parent = by_id.get(current.parsed.parent)
        if parent is None:
            raise ReprokitError(
                f"{current.path}: parent {current.parsed.parent_str} does not exist in {exp.family}"
            )
        if parent.parsed.id in seen or parent.parsed.id >= current.parsed.id:
            raise ReprokitError(f"{current.path}: lineage loops back to {parent.path.name}")
        seen.add(parent.parsed.id)
        chain.append(parent)
        current = parent
    return list(reversed(chain))


def import_experiment(path: Path, settings: Settings) -> ModuleType:
    """Import an experiment module by its dotted name, with the project root importable."""
    root = str(settings.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    name = module_name(path, settings.root)
    try:
        return importlib.import_module(name)
    except ReprokitError:
        raise
    except Exception as e:
        raise ReprokitError(
            f"{path}: cannot import the experiment: {type(e).__name__}: {e}",
            hint="fix the error above; `python -c 'import " + name + "'` shows the full traceback",
        ) from e
