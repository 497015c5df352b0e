"""``reprokit new``: write a derived experiment, or a new family with its base.

A derived experiment is a few lines: it imports its parent's ``config`` (as
``parent_config``), ``main`` and ``smoke``, and builds ``config`` with nested
``dataclasses.replace`` calls, one per ``--set PATH=VALUE`` group::

    reprokit new experiments/digits/mlp/wide_02_01.py big --set model.hidden=256 --set optim.lr=3e-4

Values are parsed by the field's declared type (``reprokit.configio.parse_value``) and
written back as Python source (enums as ``Color.RED`` with their import, paths as
``Path("...")``). The file is claimed with ``O_CREAT | O_EXCL`` under a lock on the family
folder, so two ``new`` commands at once never take the same id, and it is imported in a
fresh interpreter before success is reported: its config must equal the parent's with
exactly the requested changes, or the file is removed again.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import enum
import json
import os
import subprocess
import sys
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from reprokit import experiment, naming
from reprokit._newsource import Assignment, family_base_source, render_derived, render_value
from reprokit.errors import ReprokitError
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
) -> int:
    """The ``reprokit new`` command: print the path written and the changes; exit code."""
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
    created = new_experiment(parent, name, sets, settings=settings, copy=copy)
    print(f"wrote {rel_path(created.path, settings.root)} (parent: {Path(parent).name})")
    for field, old, new in created.changes:
        print(f"  {field}: {old} → {new}")
    return 0


def new_experiment(
    parent: Path,
    name: str,
    sets: Sequence[str],
    *,
    settings: Settings,
    verify: bool = True,
    copy: bool = False,
) -> Created:
    """Write ``NAME_<next id>_<parent id>.py`` next to ``parent``; return what was written.

    Raises ReprokitError naming the field for an unknown path or a badly typed value; in that
    case, and when the written file does not import to the expected config, no file is left.
    Without ``sets`` it refuses unless ``copy``: a new experiment is a change to its parent.
    """
    given, parent = parent, (Path.cwd() / parent).resolve()
    if not parent.exists():
        raise _missing_parent(given, parent, settings)
    described = experiment.describe(parent)
    if not parent.is_file() or described is None:
        raise ReprokitError(
            f"{given}: not an experiment file",
            hint="the parent is an existing <name>_<id>_<parent>.py file",
        )
    _check_name(name)
    requested = _parse_sets(sets)
    defines = _module_level_names(parent)
    if "config" not in defines:
        raise ReprokitError(f"{parent}: defines no module-level `config` to derive from")
    _forget_other_roots(settings)
    before = set(sys.modules)
    try:
        module = experiment.import_experiment(parent, settings)
        if not requested and not copy:
            raise _no_change(given, name, module.config)
        created = _write(parent, described.parsed, module, name, requested, defines, settings)
    finally:
        # Leave no experiment modules behind: a later import in this process (tests, a
        # notebook) must see the files as they are then, from whatever root it uses.
        # Only the project's own modules: torch, say, must never be imported twice.
        top = _top_package(settings)
        for mod_name in set(sys.modules) - before:
            if mod_name == top or mod_name.startswith(top + "."):
                del sys.modules[mod_name]
    if verify:
        try:
            _verify(created.path, parent, created.assignments, settings)
        except BaseException:
            created.path.unlink(missing_ok=True)
            raise
    return created


def _write(
    parent: Path,
    parsed: naming.ExperimentName,
    module: ModuleType,
    name: str,
    requested: list[tuple[str, str]],
    defines: set[str],
    settings: Settings,
) -> Created:
    base_config = module.config
    if not dataclasses.is_dataclass(base_config) or isinstance(base_config, type):
        raise ReprokitError(f"{parent}: `config` is not a dataclass instance")
    parent_module = experiment.module_name(parent, settings.root)
    family_modules = {
        experiment.module_name(m.path, settings.root)
        for m in experiment.family_members(parent.parent)
    }
    assignments = tuple(
        _spell_enum(_assignment(base_config, path, text), module, parent_module, family_modules)
        for path, text in requested
    )
    exports = [n for n in (settings.entry, "smoke") if n in defines]
    source = render_derived(
        parent_module=parent_module,
        exports=exports,
        assignments=assignments,
        parent_file=parent.name,
        root=settings.root,
    )
    changes = _changes(base_config, assignments)
    return Created(_claim(parent.parent, name, parsed, source), assignments, changes)


def _changes(config: Any, assignments: Sequence[Assignment]) -> tuple[tuple[str, str, str], ...]:
    """The changes as ``blame``/``diff`` print them: the same plain data (configio.diff of
    the two configs) and the same text (tables.format_config_value), so ``new`` says
    ``sgd → adam`` and ``false → true`` as they do."""
    from reprokit import configio
    from reprokit.tables import format_config_value as fmt

    changed = config
    for a in assignments:
        changed = _replaced(changed, a.path.split("."), a.value)
    try:
        diff = configio.diff(config, changed)
    except configio.ConfigError:  # a field the YAML cannot hold: show the Python values
        return tuple((a.path, _show(a.old), _show(a.value)) for a in assignments)
    return tuple((c.path, fmt(c.old), fmt(c.new)) for c in diff)


def _replaced(node: Any, parts: Sequence[str], value: Any) -> Any:
    if not parts:
        return value
    inner = _replaced(getattr(node, parts[0]), parts[1:], value)
    return dataclasses.replace(node, **{parts[0]: inner})


def _missing_parent(given: Path, parent: Path, settings: Settings) -> ReprokitError:
    """The parent file does not exist: name the experiments that do, nearest first."""
    folder = parent.parent
    if not folder.is_dir():
        return ReprokitError(
            f"{given}: no such file (the folder {rel_path(folder, settings.root)}/ does not"
            " exist either)",
            hint="give an existing experiment file, e.g. one `reprokit lineage` lists",
        )
    names = [m.path.name for m in experiment.family_members(folder)]
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


def _no_change(given: Path, name: str, config: Any) -> ReprokitError:
    """``new`` without ``--set`` would write a copy of the parent: a change makes an experiment."""
    from reprokit.tables import format_config_value

    example = _first_leaf(config)
    sample = "--set PATH=VALUE"
    if example:
        sample = f"--set {example[0]}=VALUE ({example[0]} is {format_config_value(example[1])} now)"
    return ReprokitError(
        f"no --set given: {name} would be an exact copy of {Path(given).name}",
        hint=f"a new experiment is a change to its parent's config; say which: reprokit new"
        f" {given} {name} {sample} (or --copy to change only the code, by hand)",
    )


def _first_leaf(config: Any, prefix: str = "") -> tuple[str, Any] | None:
    """The first non-group field of ``config`` (dotted) and its value, for an example."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return None
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            found = _first_leaf(value, f"{prefix}{f.name}.")
            if found:
                return found
        elif isinstance(value, bool | int | float | str):
            return f"{prefix}{f.name}", value
    return None


def new_family(family: Path, name: str, *, settings: Settings) -> Path:
    """Create ``family`` (and missing ``__init__.py`` files) with its base ``NAME_01_01.py``."""
    folder = (Path.cwd() / family).resolve()
    _check_name(name)
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


def _show(value: Any) -> str:
    try:
        return render_value(value, set())
    except ReprokitError:
        return repr(value)


def _check_name(name: str) -> None:
    parsed = naming.parse(naming.format_name(name, 1, 1))
    if parsed is None or parsed.name != name:
        raise ReprokitError(
            f"{name!r} is not a valid experiment name",
            hint=f"use lowercase snake_case, e.g. {naming.suggest_experiment_name(name)!r}",
        )


def _parse_sets(sets: Sequence[str]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for item in sets:
        path, eq, text = item.partition("=")
        path = path.strip()
        if not eq or not path:
            raise ReprokitError(
                f"--set {item!r}: expected PATH=VALUE", hint="e.g. --set optim.lr=3e-4"
            )
        if path in seen:
            raise ReprokitError(f"--set {path}: given twice")
        for other in seen:
            if other.startswith(path + ".") or path.startswith(other + "."):
                raise ReprokitError(f"--set {path} and --set {other} overlap; set only one of them")
        seen[path] = text
    return list(seen.items())


def _module_level_names(path: Path) -> set[str]:
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
    return experiment.module_name(settings.experiments, settings.root).split(".")[0]


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


def _field_type(config: Any, path: str) -> tuple[Any, Any]:
    """The declared type and current value of a dotted field path, with a helpful error."""
    node = config
    parts = path.split(".")
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            group = ".".join(parts[:i])
            raise ReprokitError(
                f"{here}: {group} is a value ({type(node).__name__}), not a config group"
            )
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields:
            close = difflib.get_close_matches(part, fields, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ReprokitError(
                f"{here}: unknown field{hint}",
                hint=f"fields of {type(node).__name__}: {', '.join(fields)}",
            )
        declared = typing.get_type_hints(type(node)).get(part, fields[part].type)
        node = getattr(node, part)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        first = dataclasses.fields(node)[0].name
        raise ReprokitError(
            f"{path}: a config group, not a single value",
            hint=f"set its fields one by one, e.g. --set {path}.{first}=...",
        )
    return declared, node


def _assignment(config: Any, path: str, text: str) -> Assignment:
    declared, old = _field_type(config, path)
    from reprokit import configio  # after the path check, which needs no configio

    hint = f"the field is declared as {_type_name(declared)}"
    try:
        value = configio.parse_value(text, declared, path=path)
    except configio.ConfigError as e:
        raise ReprokitError(e.message, hint=e.hint or hint) from None
    except (ValueError, TypeError) as e:
        raise ReprokitError(f"{path}: {e}", hint=hint) from None
    return Assignment(path, value, old)


def _spell_enum(
    a: Assignment, parent: ModuleType, parent_module: str, family_modules: set[str]
) -> Assignment:
    """Spell an enum defined in another experiment of the family without importing that file.

    ``reprokit check`` (RK402) allows a derived file to import only its parent, so an enum
    defined in, say, the base is taken from the parent module when it is visible there, and
    otherwise from the type of the parent's current value.
    """
    if not isinstance(a.value, enum.Enum):
        return a
    cls = type(a.value)
    if cls.__module__ not in family_modules or cls.__module__ == parent_module:
        return a
    top = cls.__qualname__.split(".")[0]
    defined = getattr(sys.modules.get(cls.__module__), top, None)
    if defined is not None and getattr(parent, top, None) is defined:
        return a._replace(
            source=f"{cls.__qualname__}.{a.value.name}", needs=((parent_module, top),)
        )
    if isinstance(a.old, cls):
        return a._replace(source=f"type(parent_config.{a.path}).{a.value.name}")
    return a


def _type_name(declared: Any) -> str:
    return declared.__name__ if isinstance(declared, type) else str(declared).replace("typing.", "")


@contextmanager
def _family_lock(folder: Path) -> Iterator[None]:
    """Serialize id allocation between concurrent ``new`` commands in one family.

    ``O_EXCL`` alone only catches two commands choosing the same *name*; two different
    names could still take the same id, so listing and creating happen under a lock.
    """
    try:
        import fcntl
    except ImportError:  # Windows: O_EXCL still prevents overwriting a file
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _claim(folder: Path, name: str, parent: naming.ExperimentName, source: str) -> Path:
    with _family_lock(folder):
        used = {m.parsed.id for m in experiment.family_members(folder)}
        id_ = naming.next_free_id(used)
        while True:
            path = folder / naming.format_name(name, id_, parent.id, parent.width)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                id_ += 1
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(source)
            return path


_VERIFY = """
import dataclasses, importlib, json, sys
sys.path.insert(0, sys.argv[1])
new, parent = (importlib.import_module(m).config for m in sys.argv[2:4])

def flat(node, prefix=""):
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        out = {}
        for f in dataclasses.fields(node):
            out.update(flat(getattr(node, f.name), prefix + f.name + "."))
        return out
    return {prefix[:-1]: repr(node)}

a, b = flat(parent), flat(new)
same_type = type(new) is type(parent)
changed = {k: b.get(k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
print(json.dumps({"same_type": same_type, "changed": changed}))
"""


def _verify(
    path: Path, parent: Path, assignments: Sequence[Assignment], settings: Settings
) -> None:
    """Import the new file in a fresh interpreter; its config must differ exactly as asked."""
    mods = [experiment.module_name(p, settings.root) for p in (path, parent)]
    proc = subprocess.run(
        [sys.executable, "-c", _VERIFY, str(settings.root), *mods],
        cwd=settings.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ReprokitError(
            f"{path.name}: the written file does not import, so it was removed:\n{tail}",
            hint="this is a bug in reprokit new; please report it with the command line",
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {a.path: repr(a.value) for a in assignments if repr(a.value) != repr(a.old)}
    if not result["same_type"] or result["changed"] != expected:
        raise ReprokitError(
            f"{path.name}: its config differs from the parent's by {result['changed']}, "
            f"expected {expected}; the file was removed",
            hint="this is a bug in reprokit new; please report it with the command line",
        )
