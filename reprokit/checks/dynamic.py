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
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

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


def import_for_check(path: Path, module: str) -> ModuleType | Finding:
    """Import one experiment; a failure becomes an RK500 finding with the cause."""
    import importlib

    sink = io.StringIO()
    try:
        # An experiment that prints on import must not garble the findings.
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return importlib.import_module(module)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        line = 1
        for frame, lineno in traceback.walk_tb(e.__traceback__):
            if os.path.abspath(frame.f_code.co_filename) == str(path):
                line = lineno
        hint = f"fix the error; python -c 'import {module}' shows the full traceback"
        if in_precommit_env():
            hint = (
                "this hook runs in pre-commit's isolated environment, which lacks the"
                " project's packages; run the full check as a `repo: local` hook with"
                " `language: system` and `entry: reprokit check` in the project's own"
                " environment, and use reprokit-static here"
            )
        return Finding(
            path, line, 1, "RK500", f"cannot import {module}: {type(e).__name__}: {e}", hint
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

    def field_line(self, cls: type, field: str | None) -> tuple[int, int] | None:
        """Where ``cls`` (or its ``field``) is defined, when that is in this file."""
        mod = sys.modules.get(cls.__module__)
        mod_file = getattr(mod, "__file__", None)
        if not mod_file or os.path.abspath(mod_file) != str(self.path):
            return None
        tree = self.tree()
        body: list[ast.stmt] = tree.body if tree else []
        node: ast.ClassDef | None = None
        for part in cls.__qualname__.split("."):
            node = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
            if node is None:
                return None
            body = node.body
        assert node is not None
        for stmt in node.body:
            if (
                field is not None
                and isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.target.id == field
            ):
                return stmt.lineno, stmt.col_offset + 1
        return node.lineno, node.col_offset + 1


def _frozen_findings(config: Any, path: Path, loc: _Locator, allow_mutable: bool) -> list[Finding]:
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
                line, col = where(cls, None)
                findings.append(
                    Finding(
                        path,
                        line,
                        col,
                        "RK503",
                        f"{label} is a {cls.__name__}, a dataclass without frozen=True",
                        f"declare it @dataclass(frozen=True) so code cannot change {label}"
                        " during a run (nested dataclasses too)",
                    )
                )
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
    findings += _frozen_findings(config, path, loc, settings.allow_mutable_fields)
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
