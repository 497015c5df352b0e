"""``reprokit check [PATHS...]``: find the experiment files, run the checks, print findings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reprokit.checks.report import print_report
from reprokit.checks.runner import run_checks
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery, naming
from reprokit.settings import Settings


def collect_targets(paths: Sequence[Path], settings: Settings) -> list[Path]:
    """Experiment files named by ``paths``: files as given, folders searched; none: all.

    Files that are not experiments (``_helpers.py``, ``__init__.py``, non-Python files,
    anything outside the experiments folder) are skipped: pre-commit passes whatever
    changed, and ``reprokit check .`` must not judge tests/ or scripts/ by experiment rules.
    """
    if not paths:
        if not settings.experiments.is_dir():
            return []
        # settings.experiments is already resolved; resolving 1,000 paths costs ~90 ms.
        return discovery.iter_experiment_paths(settings.experiments)
    found: dict[Path, None] = {}
    for given in paths:
        path = (Path.cwd() / given).resolve()
        if path.is_dir():
            for p in discovery.iter_experiment_paths(path):
                if p.is_relative_to(settings.experiments):
                    found[p] = None
        elif path.is_file():
            if naming.is_candidate(path) and path.is_relative_to(settings.experiments):
                found[path] = None
        else:
            raise ReprokitError(
                f"{given}: no such file or folder",
                hint="pass experiment files or folders, or nothing to check every experiment",
            )
    return sorted(found)


def check(
    paths: Sequence[Path],
    *,
    settings: Settings,
    static_only: bool = False,
    use_cache: bool = True,
    staged: bool = False,
) -> int:
    """Run checks 1-6 (1-4 with ``static_only``) and print the findings; 1 if any.

    With ``staged`` (the plain git hook) the index is checked instead of the working tree.
    """
    if staged:
        from reprokit.checks.hook import check_staged

        return check_staged(settings=settings, static_only=static_only, use_cache=use_cache)
    targets = collect_targets(paths, settings)
    result = run_checks(targets, settings, static_only=static_only, use_cache=use_cache)
    return print_report(result)
