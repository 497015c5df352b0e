"""Experiment file names: ``<name>_<id>_<parent>.py`` — parse, format, next free id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

# name: lowercase snake_case (digits allowed, no leading digit, no doubled/trailing "_");
# id and parent: zero-padded, at least two digits. Greedy matching leaves the last two
# numeric groups to id and parent, so `lr_1e3_02_01` parses as name `lr_1e3`.
EXPERIMENT_RE = re.compile(
    r"^(?P<name>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)_(?P<id>\d{2,})_(?P<parent>\d{2,})\.py$"
)
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BASE_ID = 1


class ExperimentName(NamedTuple):
    name: str
    id: int
    parent: int
    width: int  # digits used for ids in this file name (at least 2)

    @property
    def is_base(self) -> bool:
        return self.id == self.parent

    @property
    def id_str(self) -> str:
        return format_id(self.id, self.width)

    @property
    def parent_str(self) -> str:
        return format_id(self.parent, self.width)


def is_candidate(path: Path) -> bool:
    """Whether a ``.py`` file is meant to be an experiment (helpers start with ``_``)."""
    return path.suffix == ".py" and not path.name.startswith("_")


def parse(filename: str) -> ExperimentName | None:
    """Parse a bare file name; ``None`` when it does not follow the pattern."""
    m = EXPERIMENT_RE.match(filename)
    if m is None:
        return None
    width = max(len(m["id"]), len(m["parent"]))
    return ExperimentName(m["name"], int(m["id"]), int(m["parent"]), width)


def format_id(number: int, width: int = 2) -> str:
    return str(number).zfill(max(width, 2))


def format_name(name: str, id_: int, parent: int, width: int = 2) -> str:
    return f"{name}_{format_id(id_, width)}_{format_id(parent, width)}.py"


def next_free_id(used_ids: set[int] | list[int]) -> int:
    return max(used_ids, default=0) + 1


def suggest_identifier(component: str) -> str:
    """Turn a folder name such as ``qwen_0.5b`` into an importable ``qwen_0_5b``."""
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", component)
    if not fixed or fixed[0].isdigit():
        fixed = "_" + fixed
    return fixed


def suggest_experiment_name(stem: str) -> str:
    """A snake_case version of an arbitrary file stem, for hints."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", stem).lower()
    s = re.sub(r"[^a-z0-9]+", "_", s).strip("_")
    s = re.sub(r"_\d{2,}_\d{2,}$", "", s)
    if not s or s[0].isdigit():
        s = "exp_" + s
    return s
