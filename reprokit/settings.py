"""Project settings from ``[tool.reprokit]`` in the project's ``pyproject.toml``, with defaults."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError

DEFAULT_UNTRACKED_CAP = 10 * 1024 * 1024
# Seconds to import and check one experiment. A cold `import torch` takes 2-10 s (more on
# a network file system) and an experiment's module level should do little else, so a
# minute is far above a healthy import, yet a hook stuck on a sleeping or waiting import
# fails within a minute per file instead of never.
DEFAULT_CHECK_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about the project it runs in.

    ``root`` is the folder holding ``pyproject.toml`` (or, without one, the git top level or
    the current directory). It is also the import root: experiments import each other as
    ``experiments.<family>...`` from there.
    """

    root: Path
    experiments: Path
    outputs: Path
    entry: str = "main"
    # check 5: report list/dict/set fields; a project may relax it.
    allow_mutable_fields: bool = False
    # issue 6: every family's base must define smoke().
    require_smoke: bool = True
    # launch: untracked files above this size stay out of the snapshot (recorded by hash).
    untracked_size_cap: int = DEFAULT_UNTRACKED_CAP
    # launch outside a git repository: warn (False) or refuse (True).
    require_git: bool = False
    # launch: turn on deterministic algorithms for every run.
    deterministic: bool = False
    # blame: per-metric direction, "higher" or "lower".
    metric_directions: dict[str, str] = field(default_factory=dict)
    # smoke: seconds allowed per experiment.
    smoke_timeout: float = 300.0
    # check RK505: a config field that holds a credential (its name or its value says so).
    secret_fields: bool = True
    # check: seconds allowed to import and check one experiment (checks 5-6).
    check_timeout: float = DEFAULT_CHECK_TIMEOUT

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    def with_outputs(self, outputs: str | Path | None) -> Settings:
        if outputs is None:
            return self
        return dataclasses.replace(self, outputs=(Path.cwd() / outputs).resolve())


_KEYS: dict[str, type | tuple[type, ...]] = {
    "experiments": str,
    "outputs": str,
    "entry": str,
    "allow_mutable_fields": bool,
    "require_smoke": bool,
    "untracked_size_cap": int,
    "require_git": bool,
    "deterministic": bool,
    "metric_directions": dict,
    "smoke_timeout": (int, float),
    "secret_fields": bool,
    "check_timeout": (int, float),
}
# Settings that are a number of seconds: positive and finite (nan or inf would never fire).
_SECONDS = ("smoke_timeout", "check_timeout")


def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding a pyproject.toml or a .git."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() or (folder / ".git").exists():
            return folder
    return start


def load_settings(start: Path | None = None) -> Settings:
    root = find_root(start or Path.cwd())
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ReprokitError(f"{pyproject}: invalid TOML: {e}") from e
        table = data.get("tool", {}).get("reprokit", {})
    for key, value in table.items():
        expected = _KEYS.get(key)
        if expected is None:
            known = ", ".join(sorted(_KEYS))
            raise ReprokitError(
                f"{pyproject}: [tool.reprokit] has an unknown key {key!r}",
                hint=f"known keys: {known}",
            )
        numeric = expected is int or (isinstance(expected, tuple) and int in expected)
        if not isinstance(value, expected) or (numeric and isinstance(value, bool)):
            raise ReprokitError(f"{pyproject}: [tool.reprokit] {key} has the wrong type: {value!r}")
    for key in _SECONDS:
        value = table.get(key)
        if value is not None and not (0 < value < math.inf):
            raise ReprokitError(
                f"{pyproject}: [tool.reprokit] {key} = {value!r} is not a number of seconds",
                hint=f"use a positive number, e.g. {key} = 120",
            )
    directions = dict(table.get("metric_directions", {}))
    for metric, direction in directions.items():
        if direction not in ("higher", "lower"):
            raise ReprokitError(
                f"{pyproject}: [tool.reprokit.metric_directions] {metric} = {direction!r}",
                hint='use "higher" or "lower"',
            )
    env_outputs = os.environ.get("REPROKIT_OUTPUTS")
    return Settings(
        root=root,
        experiments=(root / table.get("experiments", "experiments")).resolve(),
        outputs=(root / (env_outputs or table.get("outputs", "outputs"))).resolve(),
        entry=table.get("entry", "main"),
        allow_mutable_fields=table.get("allow_mutable_fields", False),
        require_smoke=table.get("require_smoke", True),
        untracked_size_cap=table.get("untracked_size_cap", DEFAULT_UNTRACKED_CAP),
        require_git=table.get("require_git", False),
        deterministic=table.get("deterministic", False),
        metric_directions=directions,
        smoke_timeout=float(table.get("smoke_timeout", 300.0)),
        secret_fields=table.get("secret_fields", True),
        check_timeout=float(table.get("check_timeout", DEFAULT_CHECK_TIMEOUT)),
    )
