"""``reprokit new``: write a derived experiment, or a new family with its base.

A derived experiment is a few lines: it imports its parent's ``config`` (as
``parent_config``), ``main`` and ``smoke``, and builds ``config`` with nested
``dataclasses.replace`` calls, one per ``--set PATH=VALUE`` group::

    reprokit new experiments/digits/mlp/wide_02_01.py big --set model.hidden=256 --set optim.lr=3e-4

Values are parsed by the field's declared type (``reprokit.experiments.new_sets``) and written back as
Python source (``reprokit.experiments.new_source``: enums as ``Color.RED`` with their import, paths as
``Path("...")``). The file takes the next free id and is verified by importing it in a
fresh interpreter (``reprokit.experiments.new_file``): its config must equal the parent's with exactly
the requested changes, or the file is removed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from reprokit.errors import ReprokitError
from reprokit.experiments import discovery, naming
from reprokit.experiments.new_file import check_name, claim_all, verify_written
from reprokit.experiments.new_grid import check_size, combinations, grid_names
from reprokit.experiments.new_parent import (
    imported_parent,
    missing_parent_error,
    module_level_names,
)
from reprokit.experiments.new_sets import (
    Parent,
    assignments_for,
    config_changes,
    no_change_error,
    parse_sets,
    spell_enum,
)
from reprokit.experiments.new_source import Assignment, family_base_source, render_derived
from reprokit.paths import rel_path
from reprokit.settings import Settings


@dataclasses.dataclass(frozen=True)
class Created:
    """What ``new`` wrote: the file and the changes it makes to the parent's config."""

    path: Path
    assignments: tuple[Assignment, ...]
    # (dotted path, old, new) as ``blame`` and ``diff`` print them (tables.format_config_value).
    changes: tuple[tuple[str, str, str], ...] = ()


def new_command(
    parent: Path | None,
    name: str,
    *,
    settings: Settings,
    sets: Sequence[str],
    family: Path | None,
    copy: bool = False,
    yes: bool = False,
) -> int:
    """The ``reprokit new`` command: print the paths written and the changes; exit code."""
    if family is not None:
        if parent is not None:
            raise ReprokitError(
                "give either a parent experiment or --family, not both",
                hint="reprokit new --family experiments/<task>/<family> NAME",
            )
        if sets:
            raise ReprokitError(
                "--set needs a parent experiment; a new family starts from a template"
            )
        path = new_family(family, name, settings=settings)
        print(f"wrote {rel_path(path, settings.root)} (base of a new family)")
        return 0
    if parent is None:
        raise ReprokitError(
            "give the parent experiment to derive from",
            hint="reprokit new experiments/<task>/<family>/<parent>.py NAME [--set PATH=VALUE ...]",
        )
    written = new_experiments(parent, name, sets, settings=settings, copy=copy, yes=yes)
    for created in written:
        print(f"wrote {rel_path(created.path, settings.root)} (parent: {Path(parent).name})")
        for field, old, new in created.changes:
            print(f"  {field}: {old} → {new}")
    if len(written) > 1:
        print(
            f"{len(written)} experiments, one per value; after launching them compare them"
            f" with: reprokit sweep METRIC {parent}"
        )
    return 0


@dataclasses.dataclass(frozen=True)
class _Planned:
    """One file of a ``new`` (one combination of a sweep), rendered before any is written."""

    name: str
    source: str
    assignments: tuple[Assignment, ...]
    changes: tuple[tuple[str, str, str], ...]


def new_experiments(
    parent: Path,
    name: str,
    sets: Sequence[str],
    *,
    settings: Settings,
    verify: bool = True,
    copy: bool = False,
    yes: bool = False,
) -> list[Created]:
    """Write ``NAME_<next id>_<parent id>.py`` next to ``parent`` (one per combination of
    the ``--set`` value lists, ids in order); return what was written.

    Raises ReprokitError naming the field for an unknown path or a badly typed value; in that
    case, and when a written file does not import to the expected config, no file is left.
    Without ``sets`` it refuses unless ``copy``: a new experiment is a change to its parent.
    More than ``new_grid.GRID_LIMIT`` files are refused unless ``yes``.
    """
    given, parent = parent, (Path.cwd() / parent).resolve()
    if not parent.exists():
        raise missing_parent_error(given, parent, settings)
    described = discovery.describe(parent)
    if not parent.is_file() or described is None:
        raise ReprokitError(
            f"{given}: not an experiment file",
            hint="the parent is an existing <name>_<id>_<parent>.py file",
        )
    check_name(name)
    requested = parse_sets(sets)
    defines = module_level_names(parent)
    if "config" not in defines:
        raise ReprokitError(f"{parent}: defines no module-level `config` to derive from")
    with imported_parent(parent, settings) as module:
        if not requested and not copy:
            raise no_change_error(given, name, module.config)
        plans = _plan(parent, module, name, requested, defines, settings, copy=copy, yes=yes)
    created = _claim_all(parent.parent, described.parsed, plans)
    if verify:
        try:
            verify_written([(c.path, c.assignments) for c in created], parent, settings)
        except BaseException:
            for c in created:
                c.path.unlink(missing_ok=True)
            raise
    return created


def _claim_all(folder: Path, parsed: naming.ExperimentName, plans: list[_Planned]) -> list[Created]:
    """The planned files under the next free ids, in order (none is left on failure)."""
    paths = claim_all(folder, parsed, [(plan.name, plan.source) for plan in plans])
    return [
        Created(path, plan.assignments, plan.changes)
        for path, plan in zip(paths, plans, strict=True)
    ]


def _plan(
    parent: Path,
    module: ModuleType,
    name: str,
    requested: list[tuple[str, str]],
    defines: set[str],
    settings: Settings,
    *,
    copy: bool,
    yes: bool,
) -> list[_Planned]:
    base_config = module.config
    if not dataclasses.is_dataclass(base_config) or isinstance(base_config, type):
        raise ReprokitError(f"{parent}: `config` is not a dataclass instance")
    parent_module = discovery.module_name(parent, settings.root)
    family_modules = {
        discovery.module_name(m.path, settings.root)
        for m in discovery.family_members(parent.parent)
    }
    named = Parent(module, parent_module)
    lists = [(path, assignments_for(base_config, path, text, named)) for path, text in requested]
    check_size(lists, yes=yes)
    varying = [path for path, values in lists if len(values) > 1]
    combos = combinations(lists)
    names = grid_names(
        name, varying, [[(a.path, t) for t, a in combo if a.path in varying] for combo in combos]
    )
    exports = [n for n in (settings.entry, "smoke") if n in defines]
    plans = []
    for file_name, combo in zip(names, combos, strict=True):
        check_name(file_name)
        assignments = tuple(spell_enum(a, module, parent_module, family_modules) for _, a in combo)
        changes = config_changes(base_config, assignments)
        if not changes and not copy:
            # Every --set repeats the parent's value: the file would be a copy under a new id.
            same = ", ".join(f"{a.path}={t}" for t, a in combo)
            drop = " (drop that value from the list)" if varying else ""
            raise ReprokitError(
                f"--set changes nothing: {parent.name} already has {same}{drop}",
                hint="give a value that differs from the parent's (or --copy to change only the "
                "code, by hand)",
            )
        source = render_derived(
            parent_module=parent_module,
            exports=exports,
            assignments=assignments,
            parent_file=parent.name,
            root=settings.root,
        )
        plans.append(_Planned(file_name, source, assignments, changes))
    return plans


def new_family(family: Path, name: str, *, settings: Settings) -> Path:
    """Create ``family`` (and missing ``__init__.py`` files) with its base ``NAME_01_01.py``."""
    folder = (Path.cwd() / family).resolve()
    check_name(name)
    try:
        rel = folder.relative_to(settings.root)
    except ValueError:
        raise ReprokitError(
            f"{family}: outside the project root {settings.root}",
            hint=f"create families under {rel_path(settings.experiments, settings.root)}/",
        ) from None
    if not folder.is_relative_to(settings.experiments) or folder == settings.experiments:
        raise ReprokitError(
            f"{family}: a family folder must be inside {rel_path(settings.experiments, settings.root)}/",
            hint=f"e.g. {rel_path(settings.experiments, settings.root)}/<task>/<family>",
        )
    for part in rel.parts:
        if not naming.IDENTIFIER_RE.match(part):
            raise ReprokitError(
                f"{family}: folder name {part!r} is not a Python identifier, so it cannot be imported",
                hint=f"use {naming.suggest_identifier(part)!r} instead",
            )
    try:
        folder.mkdir(parents=True)  # fails if it exists, also when another `new` just made it
    except FileExistsError:
        raise ReprokitError(
            f"{family}: the family already exists",
            hint="derive from one of its experiments: reprokit new <experiment.py> NAME",
        ) from None
    levels = [settings.experiments]
    for part in folder.relative_to(settings.experiments).parts:
        levels.append(levels[-1] / part)
    for level in levels:
        init = level / "__init__.py"
        if not init.exists():
            init.write_text("", encoding="utf-8")
    path = folder / naming.format_name(name, naming.BASE_ID, naming.BASE_ID)
    path.write_text(family_base_source(name, settings.entry), encoding="utf-8")
    return path
