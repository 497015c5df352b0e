"""Checks RK503-RK504 on an imported config: frozen dataclasses all the way down, no
mutable containers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from reprokit.checks.findings import Finding
from reprokit.checks.locations import Locator, class_file, display_name

_MUTABLE_HINTS = {
    list: "use a tuple",
    set: "use a frozenset",
    dict: "use a nested frozen dataclass, or a tuple of (key, value) pairs",
    bytearray: "use bytes",
}


def frozen_findings(
    config: Any, path: Path, loc: Locator, allow_mutable: bool, root: Path
) -> list[Finding]:
    """RK503 for each non-frozen dataclass in ``config``; RK504 for each mutable container
    unless ``allow_mutable``."""
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
    cls: type, label: str, path: Path, loc: Locator, config_pos: tuple[int, int], root: Path
) -> list[Finding]:
    """RK503 at the class definition; when another project file defines the class (the
    base, for every descendant), the full finding is stated there once (the runner's set
    merges the copies) and this file gets one short line pointing at it."""
    defined_in = class_file(cls)
    elsewhere = defined_in is not None and defined_in != path and defined_in.is_relative_to(root)
    where_loc = Locator(defined_in) if elsewhere and defined_in else loc
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
    name = display_name(full.path, path, root)
    short = Finding(
        path,
        *config_pos,
        "RK503",
        f"{label} is a {cls.__name__}, defined without frozen=True in {name} (see {name}:{line})",
        f"fix {name}; this finding goes away with it",
    )
    return [full, short]
