"""Config trees (frozen dataclasses) <-> plain data <-> YAML/JSON, with a round-trip guarantee.

The plain data, by declared field type:

- dataclass: a mapping of every ``init`` field in declared order (defaults are written too:
  records are explicit; ``init=False`` fields are skipped); a missing field with a default
  loads as the default, a missing field without one is an error.
- bool, int, str, None: themselves. float: a float (an int in a float field is written as a
  float, so the text is stable); ``inf``/``-inf``/``nan`` are YAML ``.inf``/``-.inf``/``.nan``
  and the strings ``"inf"``/``"-inf"``/``"nan"`` in JSON, read back only where the field is a
  float. ``nan != nan``, so a config holding nan is not ``==`` to its loaded copy, but its
  text round-trips byte for byte and :func:`diff` reports no change.
- Path (any PurePath): its posix text. Enum (IntEnum, StrEnum too): the member's name.
  Literal: the value (an Enum member by name). torch.dtype: ``"torch.bfloat16"``.
- tuple, list: a list. set/frozenset: a list sorted for deterministic text. dict: a mapping
  in insertion order (kept: iteration order can change what a program does); keys are
  str, int (written as decimal text, because JSON keys are text) or Enum names.
- classes (``type[...]``) and functions (``Callable``): ``"module:qualname"``, imported on load
  only because the declared type asks for a class or callable.
- a union: the member the value naturally belongs to; loading picks the first member, in
  declared order, that takes the data. A dataclass in a union with another dataclass (or a
  dict) carries a discriminator first: ``_type: ClassName`` (``module:qualname`` when two
  members share a name). A value that would load back as another member is refused.
- ``Any``: only JSON-like data (None, bool, int, float, str, list, dict with str keys).

Everything else fails with a :class:`ConfigError` naming the field path and how to fix it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar

from reprokit.config import yamlwriter
from reprokit.config.decode import decode
from reprokit.config.encode import encode
from reprokit.config.types import ConfigError, Kind, field_specs, info, type_name
from reprokit.files import write_atomic

__all__ = [
    "Change",
    "ConfigError",
    "diff",
    "dump",
    "dumps",
    "field_type_at",
    "flatten",
    "from_data",
    "load",
    "loads",
    "parse_value",
    "to_data",
]

T = TypeVar("T")
Format = Literal["yaml", "json"]
_SUFFIXES: Mapping[str, Format] = MappingProxyType(
    {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
)


class Change(NamedTuple):
    """One flattened field that differs; ``None`` stands for a side where it is absent."""

    path: str
    old: Any
    new: Any


def to_data(config: Any, *, json_safe: bool = False, declared: Any = None) -> Any:
    """The plain data of ``config`` (see the module docstring), checked against its types.

    ``json_safe`` writes non-finite floats as ``"inf"``/``"-inf"``/``"nan"``; ``declared``
    is the type to encode a non-dataclass value as.
    """
    if declared is None:
        if not dataclasses.is_dataclass(config) or isinstance(config, type):
            raise ConfigError("", f"expected a dataclass instance, got {type(config).__name__}")
        declared = type(config)
    return encode(config, declared, "", json_safe)


def from_data(data: Any, config_type: type[T]) -> T:
    """Validate plain data against ``config_type``'s declared types and build the tree."""
    if info(config_type).kind is Kind.DATACLASS and not isinstance(data, Mapping):
        raise ConfigError(
            "<config>",
            f"expected a mapping of {config_type.__name__}'s fields, got {type(data).__name__}",
        )
    result: T = decode(data, config_type, "")
    return result


def dumps(config: Any, fmt: Format = "yaml") -> str:
    """YAML (safe dumper, block style, declared order) or JSON (indent 2) text; the same
    config always gives the same bytes, on any machine."""
    if fmt == "json":
        import json

        data = to_data(config, json_safe=True)
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if fmt != "yaml":
        raise ConfigError("", f"unknown config format {fmt!r}", hint="use 'yaml' or 'json'")
    data = to_data(config)
    # Plain configs get the same bytes without importing yaml (~9 ms of every launch).
    fast = yamlwriter.dump(data)
    if fast is not None:
        return fast
    import yaml

    # The pure-Python SafeDumper, not libyaml's CSafeDumper: the two differ on some text
    # (libyaml escapes astral-plane characters such as emoji as "\U0001F600"), and a record
    # must read the same bytes on every machine. It costs ~0.9 ms against ~0.2 ms for a
    # 15-field config. Loading uses CSafeLoader where available: both read the same data.
    text: str = yaml.dump(
        data,
        Dumper=_yaml_dumper(),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    return text


@functools.cache
def _yaml_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, text: str) -> Any:
        # Multi-line text as a literal block (`|`) reads like the text itself; the emitter
        # falls back to quotes where a block cannot hold it (fuzzed: both loaders agree).
        # PyYAML's emitter writes NEL (U+0085) raw inside single quotes, where the loader
        # folds it into a space; double quotes escape it as "\N". Found by the property test.
        style = '"' if "\x85" in text else ("|" if "\n" in text else None)
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


def loads(text: str, config_type: type[T], fmt: Format = "yaml") -> T:
    """Parse YAML (safe loader only) or JSON text and build a validated ``config_type``."""
    if fmt == "json":
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(
                "", f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            ) from None
    elif fmt == "yaml":
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(text, Loader=loader)  # a safe loader: plain data only
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e)
            raise ConfigError("", f"invalid YAML{where}: {problem}") from None
    else:
        raise ConfigError("", f"unknown config format {fmt!r}", hint="use 'yaml' or 'json'")
    return from_data(data, config_type)


def _format_of(path: Path) -> Format:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            "",
            f"{path}: unknown config file suffix {path.suffix!r}",
            hint="use .yaml, .yml or .json",
        )
    return fmt


def dump(config: Any, path: str | os.PathLike[str]) -> None:
    """Write ``config`` to ``path`` (format by suffix), atomically: temp file, then rename."""
    path = Path(path)
    write_atomic(path, dumps(config, _format_of(path)).encode("utf-8"))


def load(path: str | os.PathLike[str], config_type: type[T]) -> T:
    """Read a config file written by :func:`dump` (or by hand); errors name the file."""
    path = Path(path)
    fmt = _format_of(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError("", f"{path}: cannot read the config ({e.strerror})") from None
    try:
        return loads(text, config_type, fmt)
    except ConfigError as e:
        located = ConfigError("", f"{path}: {e.message}", hint=e.hint)
        located.field_path = e.field_path
        raise located from None


def flatten(config_or_data: Any) -> dict[str, Any]:
    """Dotted paths (``model.hidden``) to leaves; sequences stay whole, as lists."""
    if dataclasses.is_dataclass(config_or_data) and not isinstance(config_or_data, type):
        config_or_data = to_data(config_or_data)
    out: dict[str, Any] = {}
    _flatten_into(config_or_data, "", out)
    return out


def _flatten_into(data: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(data, Mapping) and (data or not prefix):
        for key, value in data.items():
            _flatten_into(value, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = _as_lists(data)


def _as_lists(data: Any) -> Any:
    if isinstance(data, (list, tuple)):
        return [_as_lists(v) for v in data]
    if isinstance(data, Mapping):
        return {k: _as_lists(v) for k, v in data.items()}
    return data


def diff(a: Any, b: Any) -> list[Change]:
    """Flattened fields that differ between two configs (or their plain data), in field
    order (``b``'s order, with fields only in ``a`` after their predecessor). Floats compare
    by their text, so ``nan`` equals ``nan`` and ``1`` differs from ``True``."""
    fa, fb = flatten(a), flatten(b)
    keys = list(fb)
    previous = None
    for key in fa:
        if key not in fb:
            keys.insert(keys.index(previous) + 1 if previous is not None else 0, key)
        previous = key
    return [
        Change(k, fa.get(k), fb.get(k))
        for k in keys
        if k not in fa or k not in fb or not _same(fa[k], fb[k])
    ]


def _same(x: Any, y: Any) -> bool:
    if type(x) is not type(y):
        return False
    if isinstance(x, float):
        return repr(x) == repr(y) or (math.isnan(x) and math.isnan(y))
    if isinstance(x, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, dict):
        return list(x) == list(y) and all(_same(x[k], y[k]) for k in x)
    return bool(x == y)


# -- --set PATH=VALUE support ------------------------------------------------------------


def field_type_at(config_type: Any, dotted_path: str) -> Any:
    """The declared type of ``model.hidden`` in ``config_type`` (a dataclass or instance)."""
    current: Any = config_type if isinstance(config_type, type) else type(config_type)
    parts = dotted_path.split(".")
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        groups = _dataclasses_in(current)
        if not groups:
            raise ConfigError(
                here,
                f"{'.'.join(parts[:i])} is a value ({type_name(current)}), not a config group",
            )
        found = [s.tp for g in groups for s in field_specs(g) if s.name == part]
        if not found:
            import difflib

            names = list(dict.fromkeys(s.name for g in groups for s in field_specs(g)))
            close = difflib.get_close_matches(part, names, n=1)
            guess = f"; did you mean {close[0]}?" if close else ""
            owner = " | ".join(g.__name__ for g in groups)
            raise ConfigError(
                here, f"unknown field{guess}", hint=f"fields of {owner}: {', '.join(names)}"
            )
        if any(t != found[0] for t in found):
            raise ConfigError(here, "the field has different types in the union's classes")
        current = found[0]
    return current


def _dataclasses_in(tp: Any) -> list[type]:
    ti = info(tp)
    if ti.kind is Kind.DATACLASS:
        return [ti.tp]
    if ti.kind is Kind.UNION:
        return [m for a in ti.args for m in _dataclasses_in(a)]
    return []


def parse_value(text: str, declared_type: Any, *, path: str = "") -> Any:
    """A command-line string (``--set optim.lr=3e-4``) as a value of ``declared_type``.

    Numbers, bools (true/false/yes/no/on/off/1/0), None (``None``/``null``), str, Path, Enum
    by name or value, Literal, ``a,b`` for tuples/lists/sets, ``module:qualname`` for
    classes and functions, ``bfloat16`` or ``torch.bfloat16`` for dtypes; anything else
    (dicts, dataclasses, Any) is read as YAML and validated like a loaded file.
    """
    from reprokit.config.setvalues import parse

    return parse(text, declared_type, path)
