"""Parse one command-line string by a field's declared type (``reprokit new --set``)."""

from __future__ import annotations

from typing import Any

from reprokit.config.decode import decode
from reprokit.config.types import ConfigError, Kind, info, type_name

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_NONE = frozenset({"None", "none", "null", "~"})


def parse(text: str, tp: Any, path: str) -> Any:
    ti = info(tp)
    k = ti.kind
    stripped = text.strip()
    if k is Kind.NONE:
        if stripped in _NONE:
            return None
    elif k is Kind.BOOL:
        if stripped.lower() in _TRUE | _FALSE:
            return stripped.lower() in _TRUE
        raise ConfigError(path, f"expected true or false, got {text!r}")
    elif k is Kind.INT:
        try:
            return int(stripped)
        except ValueError:
            pass
    elif k is Kind.FLOAT:
        try:
            return float(stripped)
        except ValueError:
            pass
    elif k is Kind.STR:
        return text
    elif k is Kind.PATH:
        return ti.tp(text)
    elif k is Kind.ENUM:
        return _parse_enum(stripped, ti.tp, path)
    elif k is Kind.LITERAL:
        for arg in ti.args:
            try:
                if parse(text, type(arg), path) == arg:
                    return arg
            except ConfigError:
                continue
        raise ConfigError(path, f"expected one of {type_name(tp)[8:-1]}, got {text!r}")
    elif k is Kind.UNION:
        return _parse_union(text, ti.args, tp, path)
    elif k in (Kind.TUPLE, Kind.LIST, Kind.SET):
        return _parse_sequence(stripped, ti, path)
    elif k is Kind.DTYPE:
        name = stripped if stripped.startswith("torch.") else f"torch.{stripped}"
        return decode(name, tp, path)
    elif k in (Kind.CLASSREF, Kind.CALLABLE):
        return decode(stripped, tp, path)
    else:
        return _parse_yaml(text, tp, path)
    raise ConfigError(path, f"expected {type_name(tp)}, got {text!r}")


def _parse_enum(text: str, enum_type: Any, path: str) -> Any:
    if text in enum_type.__members__:
        return enum_type[text]
    for member in enum_type:
        if str(member.value) == text:
            return member
    names = ", ".join(enum_type.__members__)
    raise ConfigError(
        path, f"expected one of {names} (names of {enum_type.__name__}), got {text!r}"
    )


def _parse_union(text: str, members: tuple[Any, ...], tp: Any, path: str) -> Any:
    # Text fits a str (or Path) member always, so those are tried last: `int | str` reads
    # "3" as 3, and "abc" as "abc".
    if text.strip() in _NONE and type(None) in members:
        return None
    textual = (Kind.STR, Kind.PATH, Kind.ANY)
    ordered = [m for m in members if info(m).kind not in textual and m is not type(None)]
    ordered += [m for m in members if info(m).kind in textual]
    if len(ordered) == 1:
        return parse(text, ordered[0], path)
    for member in ordered:
        try:
            return parse(text, member, path)
        except ConfigError:
            continue
    raise ConfigError(path, f"expected {type_name(tp)}, got {text!r}")


def _parse_sequence(text: str, ti: Any, path: str) -> Any:
    if text[:1] + text[-1:] in ("()", "[]"):
        text = text[1:-1].strip()
    parts = [p.strip() for p in text.split(",")] if text else []
    if parts and parts[-1] == "" and ti.kind is Kind.TUPLE:
        parts.pop()  # "3," is a one-item tuple, as in Python
    if ti.kind is Kind.TUPLE and not ti.variadic:
        if len(parts) != len(ti.args):
            raise ConfigError(
                path, f"expected {len(ti.args)} comma-separated items, got {len(parts)}"
            )
        items = ti.args
    else:
        items = ti.args * len(parts)
    values = [
        parse(p, t, f"{path}[{i}]") for i, (p, t) in enumerate(zip(parts, items, strict=True))
    ]
    if ti.kind is Kind.TUPLE:
        return tuple(values)
    return values if ti.kind is Kind.LIST else ti.tp(values)


def _parse_yaml(text: str, tp: Any, path: str) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(path, f"cannot read {text!r} as YAML: {e}") from None
    return decode(data, tp, path)
