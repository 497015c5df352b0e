"""``reprokit check --staged``: check what is about to be committed, not the working tree.

The plain git hook (``hooks/pre-commit``) runs this. The index's copy of the experiments
tree is exported to a temporary folder with ``git checkout-index``, checked there, and the
findings' paths are mapped back to the real files. (pre-commit, the framework, stashes
unstaged changes itself, so its hooks can check the working tree directly.)
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from reprokit.checks.cache import default_cache_path
from reprokit.checks.report import print_report
from reprokit.checks.runner import run_checks
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery
from reprokit.gitcmd import require_toplevel, run_git
from reprokit.settings import Settings


def _split_z(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def check_staged(*, settings: Settings, static_only: bool, use_cache: bool) -> int:
    """Check the families touched by staged changes, as staged; 0 when none is touched."""
    top = require_toplevel(
        settings.root, hint="--staged checks the git index; run plain `reprokit check` instead"
    ).resolve()
    try:
        exp_rel = settings.experiments.relative_to(top).as_posix()
        root_rel = settings.root.relative_to(top)
    except ValueError as e:
        raise ReprokitError(
            f"the experiments folder {settings.experiments} is outside the repository {top}"
        ) from e
    changed = _split_z(run_git("diff", "--cached", "--name-only", "--no-renames", "-z", cwd=top))
    touched = {
        str(Path(p).parent) for p in changed if p.startswith(exp_rel + "/") and p.endswith(".py")
    }
    if not touched:
        return 0
    # Only the experiments tree and the package inits above it: fast on big repositories.
    inits = [
        (Path(*Path(exp_rel).parts[:i]) / "__init__.py").as_posix()
        for i in range(1, len(Path(exp_rel).parts))
    ]
    staged = _split_z(run_git("ls-files", "-z", "--", exp_rel, *inits, cwd=top))
    tmp = Path(tempfile.mkdtemp(prefix="reprokit-staged-")).resolve()
    try:
        if staged:
            run_git(
                "checkout-index", f"--prefix={tmp}/", "-z", "--stdin",
                cwd=top, input=b"\0".join(s.encode("utf-8", "surrogateescape") for s in staged),
            )  # fmt: skip
        tmp_root = tmp / root_rel
        tmp_settings = dataclasses.replace(
            settings,
            root=tmp_root,
            experiments=tmp / exp_rel,
        )
        targets: list[Path] = []
        for family in sorted(touched):
            folder = tmp / family
            if folder.is_dir():
                targets += [
                    p for p in discovery.iter_experiment_paths(folder) if p.parent == folder
                ]
        result = run_checks(
            targets,
            tmp_settings,
            static_only=static_only,
            use_cache=use_cache,
            cache_path=default_cache_path(settings.root),
            # Project modules outside the experiments tree come from the working tree.
            extra_sys_path=[settings.root],
            repo_map=(tmp, top),
        )
        return print_report(result, path_map=(tmp, top))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
