"""Plain data back to a config tree, validated against the declared types (see
``reprokit.config.codec`` for the format); also which member of a union some data belongs to,
which encoding uses to refuse values that would load back as another member.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum as Enum_
from types import MappingProxyType
from typing import Any

from reprokit.config.types import (
    ConfigError,
    Kind,
    TypeInfo,
    describe_value,
    field_specs,
    info,
    is_reference_text,
    resolve_reference,
    type_name,
)

TAG = "_type"  # the discriminator key of a dataclass inside a union of dataclasses
NONFINITE = MappingProxyType({"inf": math.inf, "-inf": -math.inf, "nan": math.nan})


def join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def expected_error(path: str, tp: Any, value: Any) -> ConfigError:
    return ConfigError(path, f"expected {type_name(tp)}, got {describe_value(value)}")


def needs_tag(ti: TypeInfo) -> bool:
    """A dataclass in a union needs ``_type`` when another member could also be a mapping."""
    mappings = [a for a in ti.args if info(a).kind in (Kind.DATACLASS, Kind.DICT, Kind.ANY)]
    return len(mappings) > 1


def tag_of(cls: type, ti: TypeInfo) -> str:
    same = [a for a in ti.args if info(a).kind is Kind.DATACLASS and a.__name__ == cls.__name__]
    if len(same) == 1:
        return cls.__name__
    return f"{cls.__module__}:{cls.__qualname__}"


# -- decoding -------------------------------------------------------------------------


def decode(data: Any, tp: Any, path: str) -> Any:
    ti = info(tp)
    k = ti.kind
    if k is Kind.ANY:
        return data
    if k is Kind.NONE:
        if data is None:
            return None
    elif k is Kind.BOOL:
        if isinstance(data, bool):
            return data
    elif k is Kind.INT:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif k is Kind.FLOAT:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
        if isinstance(data, str) and data in NONFINITE:
            return NONFINITE[data]
    elif k in (Kind.STR, Kind.PATH):
        if isinstance(data, str):
            return ti.tp(data)
    elif k is Kind.ENUM:
        if isinstance(data, str) and data in ti.tp.__members__:
            return ti.tp[data]
        names = ", ".join(ti.tp.__members__)
        raise ConfigError(
            path,
            f"expected one of {names} (names of {ti.tp.__name__}), got {describe_value(data)}",
        )
    elif k is Kind.LITERAL:
        for arg in ti.args:
            encoded = arg.name if isinstance(arg, Enum_) else arg
            if type(encoded) is type(data) and encoded == data:
                return arg
    elif k is Kind.DATACLASS:
        if isinstance(data, Mapping):
            return _decode_dataclass(data, ti.tp, path)
    elif k is Kind.DTYPE:
        if isinstance(data, str) and data.startswith("torch."):
            import torch  # only here: the declared type asks for a torch dtype

            value = getattr(torch, data[len("torch.") :], None)
            if isinstance(value, torch.dtype):
                return value
            raise ConfigError(path, f"{data!r} is not a torch dtype", hint="e.g. 'torch.bfloat16'")
    elif k is Kind.UNION:
        return decode(data, pick_member(data, ti, path), path)
    elif k is Kind.TUPLE:
        if isinstance(data, (list, tuple)):
            if not ti.variadic and len(data) != len(ti.args):
                raise ConfigError(
                    path, f"expected {len(ti.args)} items for {type_name(ti.tp)}, got {len(data)}"
                )
            items = ti.args * len(data) if ti.variadic else ti.args
            return tuple(
                decode(d, t, f"{path}[{i}]")
                for i, (d, t) in enumerate(zip(data, items, strict=True))
            )
    elif k in (Kind.LIST, Kind.SET):
        if isinstance(data, list):
            out = [decode(d, ti.args[0], f"{path}[{i}]") for i, d in enumerate(data)]
            return out if k is Kind.LIST else ti.tp(out)
    elif k is Kind.DICT:
        if isinstance(data, Mapping):
            return {
                _decode_key(key, ti.args[0], path): decode(v, ti.args[1], join_path(path, str(key)))
                for key, v in data.items()
            }
    elif k is Kind.CLASSREF:
        if isinstance(data, str):
            obj = resolve_reference(data, path)
            if not isinstance(obj, type) or not issubclass(obj, ti.args[0]):
                raise ConfigError(path, f"{data!r} is not a subclass of {type_name(ti.args[0])}")
            return obj
    elif k is Kind.CALLABLE:
        if isinstance(data, str):
            obj = resolve_reference(data, path)
            if not callable(obj):
                raise ConfigError(path, f"{data!r} is not callable")
            return obj
    elif k is Kind.OTHER:
        raise ConfigError(
            path,
            f"fields of type {type_name(tp)} cannot be loaded from plain data",
            hint="use a frozen dataclass, or store a reference to the class",
        )
    raise expected_error(path, tp, data)


def _decode_key(key: Any, tp: Any, path: str) -> Any:
    ti = info(tp)
    if ti.kind is Kind.INT:
        if isinstance(key, int) and not isinstance(key, bool):
            return key
        if isinstance(key, str) and key.lstrip("-").isdigit() and str(int(key)) == key:
            return int(key)
        raise ConfigError(
            join_path(path, str(key)), f"expected an int key, got {describe_value(key)}"
        )
    return decode(key, tp, join_path(path, str(key)))


def _decode_dataclass(data: Mapping[str, Any], cls: type, path: str) -> Any:
    specs = field_specs(cls)
    names = [s.name for s in specs]
    tag = data.get(TAG)
    for key in data:
        if (
            key == TAG
            and key not in names
            and tag in (cls.__name__, f"{cls.__module__}:{cls.__qualname__}")
        ):
            continue
        if key not in names:
            import difflib

            close = difflib.get_close_matches(str(key), names, n=1)
            guess = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(
                join_path(path, str(key)),
                f"unknown field{guess}",
                hint=f"fields of {cls.__name__}: {', '.join(names)}",
            )
    kwargs = {}
    for spec in specs:
        here = join_path(path, spec.name)
        if spec.name in data:
            kwargs[spec.name] = decode(data[spec.name], spec.tp, here)
        elif spec.required:
            raise ConfigError(
                here,
                "missing required field",
                hint=f"add `{spec.name}: <{type_name(spec.tp)}>`; {cls.__name__} has no default for it",
            )
    try:
        return cls(**kwargs)
    except Exception as e:
        raise ConfigError(
            path, f"{cls.__name__}(...) refused the values: {type(e).__name__}: {e}"
        ) from None


def _shape(data: Any, tp: Any, ti_union: TypeInfo) -> int:
    """2: the data is naturally this member's; 1: it converts (int or 'nan' to float); 0: no."""
    ti = info(tp)
    k = ti.kind
    if k is Kind.ANY:
        return 2
    if k is Kind.NONE:
        return 2 if data is None else 0
    if k is Kind.BOOL:
        return 2 if isinstance(data, bool) else 0
    if k is Kind.INT:
        return 2 if isinstance(data, int) and not isinstance(data, bool) else 0
    if k is Kind.FLOAT:
        if isinstance(data, float):
            return 2
        ok = (isinstance(data, int) and not isinstance(data, bool)) or (
            isinstance(data, str) and data in NONFINITE
        )
        return 1 if ok else 0
    if k in (Kind.STR, Kind.PATH):
        return 2 if isinstance(data, str) else 0
    if k is Kind.ENUM:
        return 2 if isinstance(data, str) and data in ti.tp.__members__ else 0
    if k is Kind.LITERAL:
        encoded = [a.name if isinstance(a, Enum_) else a for a in ti.args]
        return 2 if any(type(e) is type(data) and e == data for e in encoded) else 0
    if k is Kind.DATACLASS:
        if not isinstance(data, Mapping):
            return 0
        if needs_tag(ti_union):
            return 2 if data.get(TAG) == tag_of(ti.tp, ti_union) else 0
        return 2
    if k is Kind.DTYPE:
        return 2 if isinstance(data, str) and data.startswith("torch.") else 0
    if k in (Kind.LIST, Kind.SET):
        return 2 if isinstance(data, list) else 0
    if k is Kind.TUPLE:
        ok = isinstance(data, list) and (ti.variadic or len(data) == len(ti.args))
        return 2 if ok else 0
    if k is Kind.DICT:
        return 2 if isinstance(data, Mapping) and not (needs_tag(ti_union) and TAG in data) else 0
    if k in (Kind.CLASSREF, Kind.CALLABLE):
        return 2 if is_reference_text(data) else 0
    return 0


def pick_member(data: Any, ti: TypeInfo, path: str) -> Any:
    """The union member that loading chooses for ``data``: the first, in declared order,
    that takes the data as it is and decodes it; else the first that converts it."""
    if data is None and type(None) in ti.args:
        return type(None)  # before `Any`, which takes None too
    ranked = [(s, m) for m in ti.args if (s := _shape(data, m, ti))]
    candidates = [m for s, m in ranked if s == 2] + [m for s, m in ranked if s == 1]
    if len(candidates) == 1:
        return candidates[0]
    for member in candidates:
        try:
            decode(data, member, path)
        except ConfigError:
            continue
        return member
    if (
        needs_tag(ti)
        and isinstance(data, Mapping)
        and any(info(m).kind is Kind.DATACLASS for m in ti.args)
    ):
        tags = [tag_of(m, ti) for m in ti.args if info(m).kind is Kind.DATACLASS]
        if TAG not in data:
            raise ConfigError(
                path,
                f"a {type_name(ti.tp)} needs a `{TAG}` key naming the class: {' or '.join(tags)}",
            )
        raise ConfigError(
            join_path(path, TAG), f"unknown class {data[TAG]!r}; expected one of {', '.join(tags)}"
        )
    raise expected_error(path, ti.tp, data)
