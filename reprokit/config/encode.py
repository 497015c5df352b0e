"""Config trees to plain data, type-directed (see ``reprokit.config.codec`` for the format).
Every value is checked against its declared type on the way out, and a union member is
only chosen when loading would choose it too, so what is written reads back equal.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping
from enum import Enum as Enum_
from pathlib import PurePath
from typing import Any, cast

from reprokit.config.decode import (
    TAG,
    expected_error,
    join_path,
    needs_tag,
    pick_member,
    tag_of,
)
from reprokit.config.types import (
    ConfigError,
    Kind,
    TypeInfo,
    describe_value,
    field_specs,
    info,
    is_torch_dtype_value,
    reference_of,
    type_name,
)


def _unserializable(path: str, value: Any) -> ConfigError:
    """The error names what WOULD serialize for this value: a lambda or a date in a field
    typed ``object`` was once told to "store a reference to the class" (issue 12)."""
    what = type(value).__name__
    if isinstance(value, type):
        fix = f"a class is stored by reference: declare the field as type[{value.__name__}]"
    elif callable(value):
        fix = "a function is stored by reference: declare the field as Callable[..., Any]"
        if getattr(value, "__name__", None) == "<lambda>":
            fix += " and give it a top-level function (a lambda has no name to store)"
    elif callable(getattr(value, "isoformat", None)):
        fix = f"store its text (value.isoformat()) in a str field and build the {what} from it"
    else:
        fix = f"make {what} a frozen dataclass, or store the plain values it is built from"
    return ConfigError(path, f"cannot serialize a value of type {what}; {fix}")


# -- encoding -------------------------------------------------------------------------


def encode(value: Any, tp: Any, path: str, json_safe: bool) -> Any:
    ti = info(tp)
    k = ti.kind
    if k is Kind.ANY:
        return _encode_plain(value, path, json_safe)
    if k is Kind.NONE:
        if value is None:
            return None
    elif k is Kind.BOOL:
        if isinstance(value, bool):
            return bool(value)
    elif k is Kind.INT:
        if not isinstance(value, bool):
            try:
                return operator.index(value)  # also numpy integers
            except TypeError:
                pass
    elif k is Kind.FLOAT:
        # An int in a float field is written as a float, so loading gives the same text.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            f = float(value)
            if json_safe and not math.isfinite(f):
                return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
            return f
    elif k is Kind.STR:
        if isinstance(value, str):
            return str.__str__(value)  # a str subclass (StrEnum) is written as its text
    elif k is Kind.PATH:
        if isinstance(value, PurePath):
            text = value.as_posix()
            if ti.tp(text) == value:
                return text
    elif k is Kind.ENUM:
        if isinstance(value, ti.tp):
            if value.name not in ti.tp.__members__:
                raise ConfigError(path, f"{value!r} has no single name; use one member")
            return value.name
    elif k is Kind.LITERAL:
        for arg in ti.args:
            if type(arg) is type(value) and arg == value:
                return arg.name if isinstance(arg, Enum_) else arg
    elif k is Kind.DATACLASS:
        if type(value) is ti.tp:
            return _encode_dataclass(value, path, json_safe)
        if dataclasses.is_dataclass(value) and isinstance(value, ti.tp):
            raise ConfigError(
                path,
                f"a {type(value).__name__} is not the declared {ti.tp.__name__}",
                hint=f"declare the field as {ti.tp.__name__} | {type(value).__name__}",
            )
    elif k is Kind.DTYPE:
        if is_torch_dtype_value(value):
            return str(value)
    elif k is Kind.UNION:
        return _encode_union(value, ti, path, json_safe)
    elif k is Kind.TUPLE:
        if isinstance(value, tuple) and (ti.variadic or len(value) == len(ti.args)):
            items = ti.args * len(value) if ti.variadic else ti.args
            return [
                encode(v, t, f"{path}[{i}]", json_safe)
                for i, (v, t) in enumerate(zip(value, items, strict=True))
            ]
    elif k is Kind.LIST:
        if isinstance(value, list):
            return [encode(v, ti.args[0], f"{path}[{i}]", json_safe) for i, v in enumerate(value)]
    elif k is Kind.SET:
        if isinstance(value, (set, frozenset)):
            encoded = [
                encode(v, ti.args[0], f"{path}[{i}]", json_safe) for i, v in enumerate(value)
            ]
            return sorted(encoded, key=_sort_key)  # set order is arbitrary; text must not be
    elif k is Kind.DICT:
        if isinstance(value, Mapping):
            return {
                _encode_key(key, ti.args[0], path): encode(
                    v, ti.args[1], join_path(path, str(key)), json_safe
                )
                for key, v in value.items()
            }
    elif k is Kind.CLASSREF:
        if isinstance(value, type) and issubclass(value, ti.args[0]):
            return reference_of(value, path)
    elif k is Kind.CALLABLE and callable(value):
        return reference_of(value, path)
    if k is Kind.OTHER and not _is_plain_scalar(value):
        raise _unserializable(path, value)
    raise expected_error(path, tp, value)


def _is_plain_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _encode_plain(value: Any, path: str, json_safe: bool) -> Any:
    """A field declared ``Any``: only data that JSON and YAML give back unchanged."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        if json_safe and not math.isfinite(value):
            raise ConfigError(
                path,
                f"{value!r} in a field declared Any cannot be written as JSON",
                hint="declare the field as float",
            )
        return value
    if type(value) is list:
        return [_encode_plain(v, f"{path}[{i}]", json_safe) for i, v in enumerate(value)]
    if type(value) is dict and all(type(key) is str for key in value):
        return {key: _encode_plain(v, join_path(path, key), json_safe) for key, v in value.items()}
    if isinstance(value, (tuple, set, frozenset, dict, PurePath)) or dataclasses.is_dataclass(
        value
    ):
        raise ConfigError(
            path,
            f"a {type(value).__name__} in a field declared Any would not load back as one",
            hint="declare the field's type, e.g. tuple[int, ...]",
        )
    raise _unserializable(path, value)


def _encode_dataclass(value: Any, path: str, json_safe: bool) -> dict[str, Any]:
    return {
        spec.name: encode(getattr(value, spec.name), spec.tp, join_path(path, spec.name), json_safe)
        for spec in field_specs(cast(type, type(value)))
    }


def _encode_key(key: Any, tp: Any, path: str) -> str:
    k = info(tp).kind
    if k in (Kind.STR, Kind.ANY) and isinstance(key, str):
        return str.__str__(key)
    if k is Kind.INT and isinstance(key, int) and not isinstance(key, bool):
        return str(int(key))  # JSON keys are strings; YAML follows so both read the same
    if k is Kind.ENUM and isinstance(key, info(tp).tp):
        return str(key.name)
    if k is Kind.LITERAL and isinstance(key, str) and key in info(tp).args:
        return key
    raise ConfigError(
        path,
        f"cannot use {describe_value(key)} as a {type_name(tp)} key",
        hint="dict keys must be str, int or an Enum",
    )


def _sort_key(data: Any) -> tuple[int, Any]:
    if data is None:
        return (0, 0)
    if isinstance(data, bool):
        return (1, data)
    if isinstance(data, (int, float)):
        return (2, (math.isnan(data), 0.0 if math.isnan(data) else data))
    if isinstance(data, str):
        return (3, data)
    import json

    return (4, json.dumps(data, sort_keys=True, default=str))


def _matches(value: Any, tp: Any) -> bool:
    """The value is naturally of this member (no conversion), to prefer it in a union."""
    ti = info(tp)
    k = ti.kind
    checks: dict[Kind, Any] = {
        Kind.NONE: lambda: value is None,
        Kind.BOOL: lambda: isinstance(value, bool),
        Kind.INT: lambda: isinstance(value, int) and not isinstance(value, bool),
        Kind.FLOAT: lambda: isinstance(value, float),
        Kind.STR: lambda: isinstance(value, str) and not isinstance(value, Enum_),
        Kind.PATH: lambda: isinstance(value, PurePath),
        Kind.ENUM: lambda: isinstance(value, ti.tp),
        Kind.LITERAL: lambda: any(type(a) is type(value) and a == value for a in ti.args),
        Kind.DATACLASS: lambda: type(value) is ti.tp,
        Kind.DTYPE: lambda: is_torch_dtype_value(value),
        Kind.TUPLE: lambda: isinstance(value, tuple),
        Kind.LIST: lambda: isinstance(value, list),
        Kind.SET: lambda: isinstance(value, (set, frozenset)),
        Kind.DICT: lambda: isinstance(value, Mapping),
        Kind.CLASSREF: lambda: isinstance(value, type),
        Kind.CALLABLE: lambda: callable(value) and not isinstance(value, type),
    }
    check = checks.get(k)
    return bool(check()) if check is not None else False


def _encode_union(value: Any, ti: TypeInfo, path: str, json_safe: bool) -> Any:
    members = list(ti.args)
    order = [m for m in members if _matches(value, m)] + [
        m for m in members if not _matches(value, m)
    ]
    errors: dict[Any, ConfigError] = {}
    ambiguous: ConfigError | None = None
    for member in order:
        try:
            data = encode(value, member, path, json_safe)
        except ConfigError as e:
            errors[member] = e
            continue
        if info(member).kind is Kind.DATACLASS and needs_tag(ti):
            data = {TAG: tag_of(member, ti), **data}
        picked = pick_member(data, ti, path)
        if picked == member:
            return data
        # e.g. None in `Literal[..., None] | None`: another member writes the same data.
        ambiguous = ambiguous or ConfigError(
            path,
            f"a {type(value).__name__} value in a {type_name(ti.tp)} field would load back "
            f"as {type_name(picked)}",
            hint="make the union's members distinguishable, e.g. drop one of them",
        )
    if ambiguous is not None:
        raise ambiguous
    others = [m for m in members if info(m).kind is not Kind.NONE]
    if len(others) == 1 and value is not None:
        raise errors[others[0]]  # Optional[X]: X's own error names the exact nested field
    raise expected_error(path, ti.tp, value)
