"""Check RK505 on an imported config: no field holds a credential.

A run's config is written to ``config.yaml`` in the run folder and copied into the index,
both shared with teammates, and the experiment file itself is snapshotted under a ref
meant to be pushed. A field whose name says it holds a secret (``api_key``, ``password``,
``token``, ... per :func:`reprokit.redact.is_secret_name`) with a non-empty value, or a
text value shaped like a credential (a password in a URL, a GitHub token, a private key),
is a finding: read it from the environment inside ``main`` instead. ``secret_fields =
false`` in ``[tool.reprokit]`` turns the check off.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reprokit import redact
from reprokit.checks.findings import Finding
from reprokit.checks.locations import Locator, class_file, display_name

# A value that names where the secret is, not the secret: "${HF_TOKEN}", "$HF_TOKEN", "env:X".
_ENV_REFERENCE = r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|env:[A-Za-z_][A-Za-z0-9_]*"
_HINT = (
    "leave it empty and read the secret from the environment inside main"
    " (os.environ[...]); or set secret_fields = false in [tool.reprokit]"
)


@dataclasses.dataclass(frozen=True)
class _Leaf:
    label: str  # config.db.password
    name: str  # the field or mapping key that holds it: password
    owner: type | None  # the dataclass defining the field
    field: str | None
    value: str


def _leaves(
    value: Any, label: str, name: str, owner: type | None, field: str | None
) -> Iterator[_Leaf]:
    """Every text value in a config tree, with the name it is stored under."""
    if isinstance(value, (str, bytes)):
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        yield _Leaf(label, name, owner, field, text)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(
                getattr(value, f.name), f"{label}.{f.name}", f.name, type(value), f.name
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{label}[{key!r}]", str(key), owner, field)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{label}[{i}]", name, owner, field)


def _problem(leaf: _Leaf) -> str | None:
    """What is wrong with one text value, or None."""
    text = leaf.value.strip()
    if not text or re.fullmatch(_ENV_REFERENCE, text):
        return None
    if redact.is_secret_name(leaf.name):
        return f"{leaf.label} has a value, and its name says it holds a secret"
    found = redact.find_credential(text)
    return f"{leaf.label} holds {found}" if found else None


def _keyword_line(loc: Locator, name: str) -> tuple[int, int] | None:
    """Where this file passes ``name=...`` (``Config(api_key=...)``, ``replace(..., token=...)``)."""
    tree = loc.tree()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.keyword) and node.arg == name:
            return node.lineno, node.col_offset + 1
    return None


def secret_findings(config: Any, path: Path, loc: Locator, root: Path) -> list[Finding]:
    """RK505 for each config value that holds a credential (never showing the value)."""
    findings: list[Finding] = []
    config_pos = loc.name_line("config")
    for leaf in _leaves(config, "config", "config", None, None):
        problem = _problem(leaf)
        if problem is None:
            continue
        pos = _keyword_line(loc, leaf.field) if leaf.field else None
        if pos is None and leaf.owner is not None:
            pos = loc.field_line(leaf.owner, leaf.field)
            defined_in = class_file(leaf.owner)
            if pos is None and defined_in is not None and defined_in.is_relative_to(root):
                # The value is the default of a class another project file defines.
                where = Locator(defined_in).field_line(leaf.owner, leaf.field)
                if where is not None:
                    problem += (
                        f" (its default, in {display_name(defined_in, path, root)}:{where[0]})"
                    )
        line, col = pos or config_pos
        message = f"{problem}: it would be recorded in the run's config.yaml and the index"
        findings.append(Finding(path, line, col, "RK505", message, _HINT))
    return findings
