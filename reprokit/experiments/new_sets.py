"""``reprokit new --set PATH=VALUE``: each value parsed by the declared type of its field.

Also the two texts built from the assignments: the changes as ``blame``/``diff`` print
them, and the error for a ``new`` without any ``--set``.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from reprokit.errors import ReprokitError
from reprokit.experiments.new_grid import check_distinct, value_texts
from reprokit.experiments.new_source import Assignment, render_value
from reprokit.tables import format_config_value


def parse_sets(sets: Sequence[str]) -> list[tuple[str, str]]:
    """``PATH=VALUE`` items as (path, text) pairs; refuses a path given twice or overlapping."""
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


def _field_type(config: Any, path: str, *, group_ok: bool = False) -> tuple[Any, Any]:
    """The declared type and current value of a dotted field path, with a helpful error
    (``group_ok``: a field holding a dataclass instance is returned, not refused)."""
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
    if dataclasses.is_dataclass(node) and not isinstance(node, type) and not group_ok:
        first = dataclasses.fields(node)[0].name
        raise ReprokitError(
            f"{path}: a config group, not a single value",
            hint=f"set its fields one by one, e.g. --set {path}.{first}=..., or swap the"
            f" whole group for another dataclass the parent's file defines or imports:"
            f" --set {path}=ClassName",
        )
    return declared, node


def assignment(config: Any, path: str, text: str, parent: Parent | None = None) -> Assignment:
    """The ``--set PATH=TEXT`` as an Assignment: TEXT parsed by the field's declared type
    (or a class the parent's module names: :func:`_class_value`)."""
    if parent is not None and (by_class := _class_value(config, path, text, parent)):
        return by_class
    declared, old = _field_type(config, path)
    from reprokit.config import codec  # after the path check, which needs no codec

    hint = f"the field is declared as {_type_name(declared)}"
    try:
        value = codec.parse_value(text, declared, path=path)
    except codec.ConfigError as e:
        raise ReprokitError(e.message, hint=e.hint or hint) from None
    except (ValueError, TypeError) as e:
        raise ReprokitError(f"{path}: {e}", hint=hint) from None
    return Assignment(path, value, old)


class Parent(NamedTuple):
    """The imported parent experiment and its module name, where ``--set`` looks up names."""

    module: ModuleType
    name: str


def _class_value(config: Any, path: str, text: str, parent: Parent) -> Assignment | None:
    """``--set model=MLP``: a class the parent's file defines or imports, by name.

    For a field holding a class (``type[Model]``) the class itself; for a field holding a
    dataclass instance (a config group) a fresh ``MLP()`` with its defaults. Written as
    imported from the parent, the one experiment a derived file may import (RK402).
    None when TEXT names no class there: the value is then parsed by type as usual.
    """
    name = text.strip()
    cls = getattr(parent.module, name, None) if name.isidentifier() else None
    if not isinstance(cls, type):
        return None
    declared, old = _field_type(config, path, group_ok=True)
    from reprokit.config.types import Kind, info

    ti = info(declared)
    accepted = [m for m in ti.args if isinstance(m, type)] if ti.kind is Kind.UNION else [declared]
    needs = ((parent.name, name),)
    if isinstance(old, type) or ti.kind is Kind.CLASSREF:
        bound = ti.args[0] if ti.kind is Kind.CLASSREF and ti.args else object
        if not issubclass(cls, bound):
            raise ReprokitError(f"{path}: {name} is not a subclass of {_type_name(bound)}")
        return Assignment(path, cls, old, source=name, needs=needs)
    if not dataclasses.is_dataclass(old):
        return None
    if not dataclasses.is_dataclass(cls):
        raise ReprokitError(
            f"{path}: {name} is not a dataclass; a config group is swapped only for another"
            " dataclass (written as {name}() with its defaults)".replace("{name}", name)
        )
    if ti.kind is not Kind.ANY and not any(
        isinstance(t, type) and issubclass(cls, t) for t in accepted
    ):
        shown = " | ".join(_type_name(t) for t in accepted)
        raise ReprokitError(
            f"{path}: {name} is not {shown}, the field's declared type",
            hint=f"declare the field as {shown} | {name} to allow it",
        )
    try:
        value = cls()
    except TypeError as e:
        raise ReprokitError(
            f"{path}: {name}() needs arguments ({e}); --set makes it with its defaults",
            hint=f"give {name}'s fields defaults, or write the file with --copy and set it by hand",
        ) from None
    return Assignment(path, value, old, source=f"{name}()", needs=needs)


def assignments_for(
    config: Any, path: str, text: str, parent: Parent | None = None
) -> list[tuple[str, Assignment]]:
    """The values one ``--set PATH=TEXT`` asks for (one, or a comma list to sweep: see
    ``new_grid``), each as (its text, its Assignment); every value is parsed before any
    file is written."""
    declared, _ = _field_type(config, path, group_ok=True)
    texts = value_texts(path, text, sequence=_holds_sequence(declared))
    parsed = [(t, assignment(config, path, t, parent)) for t in texts]
    check_distinct(path, texts, [a.value for _, a in parsed])
    return parsed


def _holds_sequence(declared: Any) -> bool:
    """Whether the field's bare comma form is one value (a tuple, list or set field)."""
    from reprokit.config.types import Kind, info

    sequences = (Kind.TUPLE, Kind.LIST, Kind.SET)
    ti = info(declared)
    if ti.kind is Kind.UNION:
        return any(info(member).kind in sequences for member in ti.args)
    return ti.kind in sequences


def spell_enum(
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


def config_changes(
    config: Any, assignments: Sequence[Assignment]
) -> tuple[tuple[str, str, str], ...]:
    """The changes as ``blame``/``diff`` print them: the same plain data (codec.diff of
    the two configs) and the same text (tables.format_config_value), so ``new`` says
    ``sgd → adam`` and ``false → true`` as they do."""
    from reprokit.config import codec

    changed = config
    for a in assignments:
        changed = _replaced(changed, a.path.split("."), a.value)
    try:
        diff = codec.diff(config, changed)
    except codec.ConfigError:  # a field the YAML cannot hold: show the Python values
        return tuple((a.path, _show(a.old), _show(a.value)) for a in assignments)
    return tuple((c.path, format_config_value(c.old), format_config_value(c.new)) for c in diff)


def _replaced(node: Any, parts: Sequence[str], value: Any) -> Any:
    if not parts:
        return value
    inner = _replaced(getattr(node, parts[0]), parts[1:], value)
    return dataclasses.replace(node, **{parts[0]: inner})


def _show(value: Any) -> str:
    try:
        return render_value(value, set())
    except ReprokitError:
        return repr(value)


def no_change_error(given: Path, name: str, config: Any) -> ReprokitError:
    """``new`` without ``--set`` would write a copy of the parent: a change makes an experiment."""
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
