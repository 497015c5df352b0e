"""Python source for ``reprokit new``: a derived experiment, or a new family's base.

The output is what ``ruff format`` (and ruff's isort with ``combine-as-imports``) would
leave unchanged, without depending on ruff: lines longer than 88 characters are exploded
with a trailing comma, which keeps them exploded under any line length.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from reprokit.errors import ReprokitError

# ruff format's default; a shorter line is stable under every longer project setting.
_WIDTH = 88


class Assignment(NamedTuple):
    """One ``--set``: the dotted field path, its new value and the parent's value."""

    path: str
    value: Any
    old: Any
    # Set when the caller knows better how to spell the value (see new_sets.spell_enum):
    # the expression and the (module, name) imports it needs.
    source: str | None = None
    needs: tuple[tuple[str, str], ...] = ()

    def render(self, imports: set[tuple[str, str]]) -> str:
        """The value as Python source; adds the imports it needs to ``imports``."""
        if self.source is None:
            return render_value(self.value, imports)
        imports.update(self.needs)
        return self.source


def render_value(value: Any, imports: set[tuple[str, str]]) -> str:
    """A Python expression for ``value``; adds the ``(module, name)`` imports it needs."""
    if isinstance(value, enum.Enum):
        cls = type(value)
        imports.add((cls.__module__, cls.__qualname__.split(".")[0]))
        return f"{cls.__qualname__}.{value.name}"
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, PurePath):
        name = "Path" if isinstance(value, Path) else type(value).__name__
        imports.add(("pathlib", name))
        return f"{name}({_string(value.as_posix())})"
    if isinstance(value, tuple):
        items = [render_value(v, imports) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(render_value(v, imports) for v in value)}]"
    if isinstance(value, set | frozenset):
        # Sorted: a set's order changes between interpreters, the file must not.
        inner = ", ".join(sorted(render_value(v, imports) for v in value))
        if isinstance(value, frozenset):
            return f"frozenset({{{inner}}})"
        return f"{{{inner}}}" if inner else "set()"
    if isinstance(value, dict):
        pairs = (
            f"{render_value(k, imports)}: {render_value(v, imports)}" for k, v in value.items()
        )
        return f"{{{', '.join(pairs)}}}"
    if _importable(value):
        # A class or function set as module:qualname (`--set act=torch.nn:GELU`).
        imports.add((value.__module__, value.__qualname__))
        return str(value.__qualname__)
    raise ReprokitError(
        f"cannot write a {type(value).__name__} value ({value!r}) as Python source",
        hint="no file was written; write one with --copy (the parent's config) and set this"
        " field there by hand, or set it in the parent",
    )


def _importable(value: Any) -> bool:
    """A top-level class or function of an importable module (what a reference names)."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    return (
        (isinstance(value, type) or callable(value))
        and isinstance(module, str)
        and module != "__main__"
        and isinstance(qualname, str)
        and qualname.isidentifier()
        and getattr(sys.modules.get(module), qualname, None) is value
    )


def _string(text: str) -> str:
    # ruff format prefers double quotes unless that needs more escapes.
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def _name_key(name: str) -> tuple[int, str]:
    # isort's order-by-type: CONSTANTS, then Classes, then everything else.
    bare = name.split(" as ")[0]
    rank = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return rank, bare


def _section(module: str, root: Path) -> int:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return 0
    if (root / top).is_dir() or (root / f"{top}.py").is_file():
        return 2
    return 1


def _import_lines(imports: dict[str, set[str]], root: Path) -> list[str]:
    sections: dict[int, list[str]] = {}
    for module in sorted(imports):
        names = sorted(imports[module], key=_name_key)
        line = f"from {module} import {', '.join(names)}"
        if len(line) > _WIDTH:
            line = "\n".join([f"from {module} import (", *[f"    {n}," for n in names], ")"])
        sections.setdefault(_section(module, root), []).append(line)
    return ["\n".join(sections[k]) for k in sorted(sections)]


def _flat(target: str, tree: dict[str, Any]) -> str:
    args = [target] + [
        f"{key}={_flat(f'{target}.{key}', sub) if isinstance(sub, dict) else sub}"
        for key, sub in tree.items()
    ]
    return f"replace({', '.join(args)})"


def _call(target: str, tree: dict[str, Any], indent: int, lead: str, trail: str) -> list[str]:
    """``lead + replace(target, k=v, ...) + trail``, exploded when it does not fit."""
    pad = " " * indent
    flat = f"{pad}{lead}{_flat(target, tree)}{trail}"
    if len(flat) <= _WIDTH:
        return [flat]
    lines = [f"{pad}{lead}replace(", f"{pad}    {target},"]
    for key, sub in tree.items():
        if isinstance(sub, dict):
            lines += _call(f"{target}.{key}", sub, indent + 4, f"{key}=", ",")
        else:
            lines.append(f"{pad}    {key}={sub},")
    lines.append(f"{pad}){trail}")
    return lines


def _docline(text: str) -> str:
    # A value may hold a backslash or triple quotes; keep the docstring a valid literal.
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _doc_value(a: Assignment) -> str:
    """The value as the docstring shows it: its plain spelling (``Color.BLUE``), or the
    caller's (``CNN()``) for a value with none."""
    try:
        return render_value(a.value, set())
    except ReprokitError:
        return a.render(set())


def render_derived(
    *,
    parent_module: str,
    exports: Sequence[str],
    assignments: Sequence[Assignment],
    parent_file: str,
    root: Path,
) -> str:
    """The source of a derived experiment: parent imports plus one nested ``replace``."""
    found: set[tuple[str, str]] = set()
    tree: dict[str, Any] = {}
    for a in assignments:
        node = tree
        *groups, leaf = a.path.split(".")
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = a.render(found)
    imports: dict[str, set[str]] = {"dataclasses": {"replace"}}
    imports.setdefault(parent_module, set()).update(["config as parent_config", *exports])
    for module, name in found:
        imports.setdefault(module, set()).add(name)
    head = f"Derived from {parent_file}: say here what this experiment tests."
    changes = [_docline(f"- {a.path} = {_doc_value(a)}") for a in assignments]
    docstring = [f'"""{head}', "", *changes, '"""'] if changes else [f'"""{head}"""']
    public = sorted({"config", *exports}, key=_name_key)
    body = _call("parent_config", tree, 0, "config = ", "")
    return "\n".join(
        [
            *docstring,
            "",
            "\n\n".join(_import_lines(imports, root)),
            "",
            "__all__ = [" + ", ".join(f'"{n}"' for n in public) + "]",
            "",
            *body,
            "",
        ]
    )


def family_base_source(name: str, entry: str = "main") -> str:
    """The base experiment of a new family: a frozen config with a seed, ``main`` and ``smoke``."""
    return f'''\
"""{name}: the base of a new family. Say here what question the family answers."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Config:
    seed: int = 0
    steps: int = 100
    lr: float = 0.1


config = Config()


def {entry}(config: Config) -> dict[str, float]:
    """Run the experiment; log metrics with reprokit.log; return the final ones."""
    import random

    import reprokit

    rng = random.Random(config.seed)
    target = rng.uniform(-1.0, 1.0)
    x = 0.0
    for step in range(1, config.steps + 1):
        x -= config.lr * 2.0 * (x - target)
        reprokit.log(step=step, loss=(x - target) ** 2)
    return {{"loss": (x - target) ** 2}}


def smoke(config: Config) -> Config:
    """A tiny version of the config that runs in a second: the code path, not the result."""
    return replace(config, steps=2)
'''
