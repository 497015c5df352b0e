"""The parent ``reprokit new`` derives from: found (or near names suggested), read, imported.

Its top-level names are read with ``ast``; it is imported in this process, leaving no
experiment modules behind for a later import to mistake for the files as they are then.
"""

from __future__ import annotations

import ast
import difflib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from reprokit.errors import ReprokitError
from reprokit.experiments import discovery, naming
from reprokit.paths import rel_path
from reprokit.settings import Settings


def missing_parent_error(given: Path, parent: Path, settings: Settings) -> ReprokitError:
    """The parent file does not exist: name the experiments that do, nearest first."""
    folder = parent.parent
    if not folder.is_dir():
        return ReprokitError(
            f"{given}: no such file (the folder {rel_path(folder, settings.root)}/ does not"
            " exist either)",
            hint="give an existing experiment file, e.g. one `reprokit lineage` lists",
        )
    names = [m.path.name for m in discovery.family_members(folder)]
    if not names:
        return ReprokitError(
            f"{given}: no such file, and {rel_path(folder, settings.root)}/ has no experiments",
            hint=f"start a family with: reprokit new --family {rel_path(folder, settings.root)}"
            " NAME",
        )
    # Compare the name parts: ids alone (``_02_01``) make every file look alike.
    by_name = {getattr(naming.parse(n), "name", n): n for n in reversed(names)}
    wanted = naming.parse(parent.name)
    key = wanted.name if wanted else parent.stem
    close = [by_name[k] for k in difflib.get_close_matches(key, list(by_name), n=3, cutoff=0.6)]
    listed = ", ".join(close + [n for n in names if n not in close])
    lead = f"did you mean {close[0]}? " if close else ""
    return ReprokitError(
        f"{given}: no such file",
        hint=f"{lead}experiments in {rel_path(folder, settings.root)}/: {listed}",
    )


def module_level_names(path: Path) -> set[str]:
    """Names a module binds at top level (defs, classes, assignments, imports), via ``ast``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as e:
        raise ReprokitError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _top_package(settings: Settings) -> str:
    return discovery.module_name(settings.experiments, settings.root).split(".")[0]


def _forget_other_roots(settings: Settings) -> None:
    """Forget imported experiment modules that belong to another project root.

    A long-lived process (the test suite, a notebook) may have imported ``experiments``
    from a different checkout; importing the parent would then silently use stale code.
    """
    root = settings.root.resolve()
    top = _top_package(settings)
    for mod_name, mod in list(sys.modules.items()):
        if mod_name != top and not mod_name.startswith(top + "."):
            continue
        files = [getattr(mod, "__file__", None), *list(getattr(mod, "__path__", []))]
        if not any(f and Path(f).resolve().is_relative_to(root) for f in files):
            del sys.modules[mod_name]


@contextmanager
def imported_parent(parent: Path, settings: Settings) -> Iterator[ModuleType]:
    """The parent experiment imported in this process; on exit, the project's modules
    it imported are forgotten again."""
    _forget_other_roots(settings)
    before = set(sys.modules)
    try:
        yield discovery.import_experiment(parent, settings)
    finally:
        # Leave no experiment modules behind: a later import in this process (tests, a
        # notebook) must see the files as they are then, from whatever root it uses.
        # Only the project's own modules: torch, say, must never be imported twice.
        top = _top_package(settings)
        for mod_name in set(sys.modules) - before:
            if mod_name == top or mod_name.startswith(top + "."):
                del sys.modules[mod_name]
