"""``reprokit check --staged``: check what is about to be committed, not the working tree.

The plain git hook (``hooks/pre-commit``) runs this. The index's copy of the experiments
tree is exported to a temporary folder with ``git checkout-index``, checked there, and the
findings' paths are mapped back to the real files. (pre-commit, the framework, stashes
unstaged changes itself, so its hooks can check the working tree directly.)
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from pathlib import Path

from reprokit.checks.cache import default_cache_path
from reprokit.checks.findings import Finding
from reprokit.checks.report import print_report
from reprokit.checks.runner import CheckResult, run_checks
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery, naming
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
        return print_report(_name_unstaged(result, tmp, top), path_map=(tmp, top))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_NO_MODULE_RE = re.compile(r"No module named '([\w.]+)'")


def _name_unstaged(result: CheckResult, tmp: Path, top: Path) -> CheckResult:
    """Say "not staged" where a file is missing only from the commit, not from the disk.

    The export holds the index; a parent (or an imported experiment) that exists in the
    working tree but was never ``git add``-ed reads there as "parent 02 does not exist"
    plus an import error whose suggested ``python -c 'import ...'`` succeeds in the working
    tree (issue 12). Those findings become one that names the file and ``git add``.
    """
    findings = []
    named: set[tuple[Path, Path]] = set()  # (finding's file, unstaged file): said once
    for f in result.findings:
        missing = _unstaged_file(f, tmp, top)
        if missing is None:
            findings.append(f)
            continue
        if (f.path, missing) in named:
            continue  # the parent's RK301 already says it; its import error adds nothing
        named.add((f.path, missing))
        rel = missing.relative_to(top).as_posix()
        what = "its parent" if f.code == "RK301" else "an imported experiment"
        findings.append(
            dataclasses.replace(
                f,
                message=f"{what} {rel} is not staged: it is in the working tree but not in"
                " this commit, so the commit would be broken",
                hint=f"stage it too: git add {rel}",
            )
        )
    return dataclasses.replace(result, findings=sorted(set(findings)))


def _unstaged_file(finding: Finding, tmp: Path, top: Path) -> Path | None:
    """The working-tree file a finding in the export misses, when only the index lacks it."""
    if not finding.path.is_relative_to(tmp):
        return None
    folder = top / finding.path.parent.relative_to(tmp)
    if finding.code == "RK301":
        parsed = naming.parse(finding.path.name)
        if parsed is None:
            return None
        return next(
            (
                m.path
                for m in discovery.family_members(folder)
                if m.parsed.id == parsed.parent and not (tmp / m.path.relative_to(top)).exists()
            ),
            None,
        )
    match = _NO_MODULE_RE.search(finding.message) if finding.code == "RK500" else None
    if match is None:
        return None
    for candidate in _module_files(match[1], finding.path, tmp, top):
        if candidate.is_file() and not (tmp / candidate.relative_to(top)).exists():
            return candidate
    return None


def _module_files(module: str, path: Path, tmp: Path, top: Path) -> list[Path]:
    """Where ``module`` would be in the working tree: below each folder above ``path``
    (the project root may sit anywhere between the repository top and the file)."""
    rel = Path(*module.split("."))
    above = path.parent.relative_to(tmp)
    roots = [top / Path(*above.parts[:i]) for i in range(len(above.parts), -1, -1)]
    return [r / rel.with_suffix(".py") for r in roots] + [r / rel / "__init__.py" for r in roots]
