"""Checks 5-6: the config is frozen all the way down, and it round-trips through YAML.

These import the experiment (once, in this process) and look at the live objects:
RK500 cannot import, RK501 no config, RK502 config is not a dataclass instance,
RK503 a dataclass without frozen=True, RK504 a mutable container field,
RK601 config does not serialize or load, RK602 it loads back different, RK603 its YAML is
not byte-stable, RK604 no callable main, RK605 smoke() fails or returns another type,
RK606 smoke's config does not round-trip, RK610 the family's base defines no smoke().
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from reprokit import naming
from reprokit.checks.findings import Finding
from reprokit.settings import Settings

_MUTABLE_HINTS = {
    list: "use a tuple",
    set: "use a frozenset",
    dict: "use a nested frozen dataclass, or a tuple of (key, value) pairs",
    bytearray: "use bytes",
}


def in_precommit_env() -> bool:
    """Whether this interpreter is one of pre-commit's isolated hook environments."""
    homes = [os.environ.get("PRE_COMMIT_HOME")]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    homes.append(os.path.join(cache, "pre-commit"))
    prefix = Path(sys.prefix).resolve()
    return any(h and prefix.is_relative_to(Path(h).resolve()) for h in homes)


def purge_modules(top_levels: set[str]) -> None:
    """Forget imported modules of the experiments' packages, so this run imports fresh
    code (another project's, or a staged copy's, ``experiments`` package may be loaded)."""
    for name in [m for m in sys.modules if m.split(".", 1)[0] in top_levels]:
        del sys.modules[name]


def import_for_check(path: Path, module: str, root: Path) -> ModuleType | list[Finding]:
    """Import one experiment; a failure becomes findings (see :func:`import_failure`)."""
    import importlib

    sink = io.StringIO()
    try:
        # An experiment that prints on import must not garble the findings.
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return importlib.import_module(module)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return import_failure(path, module, e, root)


# Python's words when a dataclass field defaults to a non-frozen dataclass instance.
_MUTABLE_DEFAULT_RE = re.compile(r"mutable default <class '([\w.]+)'> for field (\w+) is not")
_CANNOT_IMPORT_RE = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")


def import_failure(path: Path, module: str, error: BaseException, root: Path) -> list[Finding]:
    """The findings for an experiment that fails to import, stated once at the root cause.

    A broken base made every descendant fail with the same traceback (a newcomer's report:
    five identical RK500s, the fix named nowhere). The full finding goes where the error is
    (the same Finding that file's own check gives, so the runner's set keeps one copy), and
    each importing file gets one short line pointing there.
    """
    frames = _project_frames(error, root)
    here = [line for file, line in frames if file == path]
    own_line = here[-1] if here else 1
    mutable = _mutable_default(error, root)
    if mutable is not None:
        if mutable.path == path:
            return [mutable]
        return [mutable, _see_finding(path, own_line, mutable, root)]
    experiments = [file for file, _ in frames if naming.parse(file.name) is not None]
    origin = experiments[-1] if experiments else path
    if origin != path:
        upstream = import_failure(origin, _module_of(origin, root), error, root)
        return [*upstream, _see_finding(path, own_line, upstream[-1], root)]
    return [_own_failure(path, module, error, own_line, root)]


def _own_failure(path: Path, module: str, error: BaseException, line: int, root: Path) -> Finding:
    """RK500 for an error raised by this file's own code (or by what it imports directly)."""
    if isinstance(error, SyntaxError) and error.filename:
        # A file it imports does not parse; RK001 reports it there.
        broken = Path(os.path.abspath(error.filename))
        if broken != path and broken.is_relative_to(root):
            name = _display(broken, path, root)
            return Finding(
                path,
                line,
                1,
                "RK500",
                f"cannot import: {_relation(path, broken)} {name} does not parse"
                f" (see {name}:{error.lineno or 1})",
                f"fix the syntax of {name}; this finding goes away with it",
            )
    missing = _CANNOT_IMPORT_RE.search(str(error)) if isinstance(error, ImportError) else None
    source = _module_file(missing[2], error, root) if missing else None
    if missing and source is not None and source != path:
        name = _display(source, path, root)
        return Finding(
            path,
            line,
            1,
            "RK500",
            f"cannot import {missing[1]} from {_relation(path, source)} {name},"
            " which does not define it",
            f"define {missing[1]} in {name} (or import it from the file that defines it)",
        )
    hint = f"fix the error; python -c 'import {module}' shows the full traceback"
    if in_precommit_env():
        hint = (
            "this hook runs in pre-commit's isolated environment, which lacks the"
            " project's packages; run the full check as a `repo: local` hook with"
            " `language: system` and `entry: reprokit check` in the project's own"
            " environment, and use reprokit-static here"
        )
    return Finding(
        path, line, 1, "RK500", f"cannot import {module}: {type(error).__name__}: {error}", hint
    )


def _project_frames(error: BaseException, root: Path) -> list[tuple[Path, int]]:
    """(file, line) of the traceback's frames in project files, outermost first."""
    prefix = str(root) + os.sep
    found = []
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        file = os.path.abspath(frame.f_code.co_filename)
        if file.startswith(prefix):
            found.append((Path(file), lineno))
    return found


def _module_of(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix().replace("/", ".")


def _module_file(module: str, error: BaseException, root: Path) -> Path | None:
    """The project file of ``module`` (from ImportError.path, else sys.modules)."""
    file = getattr(error, "path", None) or getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return None
    resolved = Path(os.path.abspath(file))
    return resolved if resolved.is_relative_to(root) else None


def _display(target: Path, here: Path, root: Path) -> str:
    """A file as a finding's message names it: its name next door, else root-relative."""
    if target.parent == here.parent:
        return target.name
    return target.relative_to(root).as_posix() if target.is_relative_to(root) else str(target)


def _relation(path: Path, other: Path) -> str:
    """``its parent`` when ``other`` is the parent ``path``'s name declares."""
    mine, theirs = naming.parse(path.name), naming.parse(other.name)
    if mine and theirs and other.parent == path.parent:
        return "its parent" if theirs.id == mine.parent else "its ancestor"
    return "the imported file"


def _see_finding(path: Path, line: int, upstream: Finding, root: Path) -> Finding:
    """One short line for a file that fails only because ``upstream``'s file does."""
    name = _display(upstream.path, path, root)
    return Finding(
        path,
        line,
        1,
        "RK500",
        f"cannot import: {_relation(path, upstream.path)} {name} fails"
        f" (see {name}:{upstream.line}, {upstream.code})",
        f"fix {name}; this finding goes away with it",
    )


def _mutable_default(error: BaseException, root: Path) -> Finding | None:
    """RK503 at the class for Python's "mutable default ... use default_factory" error.

    Python refuses a non-frozen dataclass instance as a field default; the fix reprokit
    wants is to freeze that class, not the default_factory the error suggests (which would
    import, then fail RK503).
    """
    if not isinstance(error, ValueError):
        return None
    m = _MUTABLE_DEFAULT_RE.search(str(error))
    if m is None:
        return None
    dotted, field = m[1], m[2]
    owner = f"the field {field}"
    location: tuple[Path, str] | None = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        scope = frame.f_globals
        name = scope.get("__name__")
        if isinstance(name, str) and dotted.startswith(name + ".") and scope.get("__file__"):
            location = (Path(os.path.abspath(str(scope["__file__"]))), dotted[len(name) + 1 :])
        cls = frame.f_locals.get("cls")
        if frame.f_code.co_name == "_process_class" and isinstance(cls, type):
            owner = f"{cls.__qualname__}.{field}"
    if location is None or not location[0].is_relative_to(root):
        return None
    file, qualname = location
    line, col = _Locator(file).class_line(qualname) or (1, 1)
    return Finding(
        file,
        line,
        col,
        "RK503",
        f"{qualname} is a dataclass without frozen=True, so Python refuses an instance of it"
        f" as the default of {owner} (ValueError: mutable default ... use default_factory)",
        f"declare {qualname} @dataclass(frozen=True): configs are frozen all the way down"
        " (a default_factory would import, then fail RK503)",
    )


class _Locator:
    """Line numbers for findings: the ``config =`` statement, or a dataclass field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tree: ast.Module | None = None

    def tree(self) -> ast.Module | None:
        if self._tree is None:
            try:
                self._tree = ast.parse(self.path.read_bytes())
            except (OSError, SyntaxError, ValueError):
                return None
        return self._tree

    def name_line(self, name: str) -> tuple[int, int]:
        """The last top-level statement binding ``name`` (assignment, def or import)."""
        tree = self.tree()
        found = (1, 1)
        for node in tree.body if tree else []:
            bound: list[str] = []
            if isinstance(node, ast.Assign):
                bound = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                bound = [node.target.id]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound = [node.name]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound = [(a.asname or a.name).split(".")[0] for a in node.names]
            if name in bound:
                found = (node.lineno, node.col_offset + 1)
        return found

    def _class_node(self, qualname: str) -> ast.ClassDef | None:
        tree = self.tree()
        body: list[ast.stmt] = tree.body if tree else []
        node: ast.ClassDef | None = None
        for part in qualname.split("."):
            node = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
            if node is None:
                return None
            body = node.body
        return node

    def class_line(self, qualname: str) -> tuple[int, int] | None:
        """Where the class ``qualname`` is defined in this file."""
        node = self._class_node(qualname)
        return (node.lineno, node.col_offset + 1) if node is not None else None

    def field_line(self, cls: type, field: str | None) -> tuple[int, int] | None:
        """Where ``cls`` (or its ``field``) is defined, when that is in this file."""
        if class_file(cls) != self.path:
            return None
        node = self._class_node(cls.__qualname__)
        if node is None:
            return None
        for stmt in node.body:
            if (
                field is not None
                and isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.target.id == field
            ):
                return stmt.lineno, stmt.col_offset + 1
        return node.lineno, node.col_offset + 1


def class_file(cls: type) -> Path | None:
    """The file that defines ``cls``, when its module has one."""
    mod_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return Path(os.path.abspath(mod_file)) if mod_file else None


def _frozen_findings(
    config: Any, path: Path, loc: _Locator, allow_mutable: bool, root: Path
) -> list[Finding]:
    findings: list[Finding] = []
    config_pos = loc.name_line("config")
    seen: set[int] = set()

    def where(owner: type | None, field: str | None) -> tuple[int, int]:
        pos = loc.field_line(owner, field) if owner is not None else None
        return pos or config_pos

    def walk(value: Any, label: str, owner: type | None, field: str | None) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            cls = type(value)
            if not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
                findings.extend(_not_frozen(cls, label, path, loc, config_pos, root))
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), f"{label}.{f.name}", cls, f.name)
        elif isinstance(value, (list, set, dict, bytearray)):
            if not allow_mutable:
                line, col = where(owner, field)
                kind = type(value)
                base = next(k for k in _MUTABLE_HINTS if isinstance(value, k))
                findings.append(
                    Finding(
                        path,
                        line,
                        col,
                        "RK504",
                        f"{label} holds a {kind.__name__}, which can be changed in place",
                        f"{_MUTABLE_HINTS[base]}; or set allow_mutable_fields = true in"
                        " [tool.reprokit]",
                    )
                )
            items = value.values() if isinstance(value, dict) else value
            for i, item in enumerate(items):
                walk(item, f"{label}[{i}]", owner, field)
        elif isinstance(value, (tuple, frozenset)):
            for i, item in enumerate(value):
                walk(item, f"{label}[{i}]", owner, field)

    walk(config, "config", None, None)
    return findings


def _not_frozen(
    cls: type, label: str, path: Path, loc: _Locator, config_pos: tuple[int, int], root: Path
) -> list[Finding]:
    """RK503 at the class definition; when another project file defines the class (the
    base, for every descendant), the full finding is stated there once (the runner's set
    merges the copies) and this file gets one short line pointing at it."""
    defined_in = class_file(cls)
    elsewhere = defined_in is not None and defined_in != path and defined_in.is_relative_to(root)
    where_loc = _Locator(defined_in) if elsewhere and defined_in else loc
    line, col = where_loc.class_line(cls.__qualname__) or config_pos
    full = Finding(
        where_loc.path,
        line,
        col,
        "RK503",
        f"{label} is a {cls.__name__}, a dataclass without frozen=True",
        f"declare it @dataclass(frozen=True) so code cannot change {label}"
        " during a run (nested dataclasses too)",
    )
    if not elsewhere:
        return [full]
    name = _display(full.path, path, root)
    short = Finding(
        path,
        *config_pos,
        "RK503",
        f"{label} is a {cls.__name__}, defined without frozen=True in {name} (see {name}:{line})",
        f"fix {name}; this finding goes away with it",
    )
    return [full, short]


def _field_owner(config: Any, field_path: str | None) -> tuple[type | None, str | None]:
    """The dataclass that declares the last field of a dotted ``field_path``."""
    value, owner, name = config, None, None
    for part in (field_path or "").split("."):
        part = part.split("[", 1)[0]
        if not part or not dataclasses.is_dataclass(value):
            break
        owner, name = type(value), part
        value = getattr(value, part, None)
    return owner, name


def _roundtrip_problem(config: Any) -> tuple[str, str, str | None, str | None] | None:
    """(code, message, hint, field_path) when ``config`` does not round-trip, else None.

    Same data path as ``configio.dumps``/``loads`` (``to_data`` -> YAML -> ``from_data``),
    but emitted with libyaml when available: configio's pure-Python dumper (chosen for
    byte-identical records everywhere) costs ~1 ms a config, half the 2 s budget for
    1,000 experiments. Byte stability is checked on the data, which the deterministic
    dumper turns into text: equal ordered data gives equal bytes.
    """
    import yaml

    from reprokit import configio

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        data = configio.to_data(config)
        text = yaml.dump(
            data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
        )
        loaded = configio.loads(text, type(config), fmt="yaml")
        again = configio.to_data(loaded)
    except configio.ConfigError as e:
        return "RK601", e.message, e.hint, getattr(e, "field_path", None)
    except Exception as e:
        return "RK601", f"{type(e).__name__}: {e}", None, None
    if loaded != config:
        return (
            "RK602",
            "loading its YAML gives a different config",
            "every field must be a plain value, a Path, an Enum, a tuple or a frozen"
            " dataclass that compares equal after a dump and load",
            None,
        )
    # repr keeps dict order and exact floats: equal reprs dump to equal bytes.
    if repr(again) != repr(data):
        return (
            "RK603",
            "its YAML is not byte-stable: dumping the loaded config gives different text",
            "avoid values whose text form changes on a round trip (e.g. sets, unordered data)",
            None,
        )
    return None


def module_findings(
    path: Path, module: ModuleType, settings: Settings, *, is_base: bool
) -> list[Finding]:
    """Checks 5-6 for one imported experiment module."""
    loc = _Locator(path)
    findings: list[Finding] = []
    entry = settings.entry
    main = getattr(module, entry, None)
    if not callable(main):
        line, col = loc.name_line(entry)
        findings.append(
            Finding(
                path,
                line,
                col,
                "RK604",
                f"no callable {entry}(config)",
                f"define def {entry}(config) or import it from the parent",
            )
        )
    smoke = getattr(module, "smoke", None)
    if is_base and settings.require_smoke and smoke is None:
        findings.append(
            Finding(
                path,
                1,
                1,
                "RK610",
                "the family's base defines no smoke(config)",
                "add def smoke(config) returning a quick variant of config (e.g. one epoch)"
                " for `reprokit smoke`; or set require_smoke = false in [tool.reprokit]",
            )
        )
    if not hasattr(module, "config"):
        findings.append(
            Finding(
                path,
                1,
                1,
                "RK501",
                "no module-level config",
                "define config = Config(...), an instance of a frozen dataclass",
            )
        )
        return findings
    config = module.config
    line, col = loc.name_line("config")
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        what = (
            f"the class {config.__name__}"
            if isinstance(config, type)
            else f"a {type(config).__name__}"
        )
        findings.append(
            Finding(
                path,
                line,
                col,
                "RK502",
                f"config is {what}, not a dataclass instance",
                "define config = Config(...), an instance of a frozen dataclass",
            )
        )
        return findings
    findings += _frozen_findings(config, path, loc, settings.allow_mutable_fields, settings.root)
    problem = _roundtrip_problem(config)
    if problem is not None:
        code, message, hint, field_path = problem
        owner, field = _field_owner(config, field_path)
        pos = loc.field_line(owner, field) if owner is not None else None
        findings.append(
            Finding(
                path, *(pos or (line, col)), code, f"config does not round-trip: {message}", hint
            )
        )
    if callable(smoke):
        # A config that does not round-trip makes smoke's fail the same way: say it once.
        findings += _smoke_findings(path, smoke, config, loc, roundtrip=problem is None)
    return findings


def _smoke_findings(
    path: Path, smoke: Any, config: Any, loc: _Locator, *, roundtrip: bool
) -> list[Finding]:
    line, col = loc.name_line("smoke")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            small = smoke(config)
    except Exception as e:
        return [
            Finding(
                path,
                line,
                col,
                "RK605",
                f"smoke(config) raised {type(e).__name__}: {e}",
                "smoke must return a quick variant of the config it is given",
            )
        ]
    if small == config:
        return []  # already round-tripped above
    if type(small) is not type(config):
        return [
            Finding(
                path,
                line,
                col,
                "RK605",
                f"smoke(config) returned a {type(small).__name__}, expected a"
                f" {type(config).__name__}",
                "return dataclasses.replace(config, ...) with the quick settings",
            )
        ]
    problem = _roundtrip_problem(small) if roundtrip else None
    if problem is None:
        return []
    _, message, hint, _ = problem
    return [
        Finding(path, line, col, "RK606", f"smoke(config) does not round-trip: {message}", hint)
    ]
