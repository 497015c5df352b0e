"""PyYAML's exact text for simple config data, written without importing PyYAML.

``import yaml`` costs ~9 ms (its reader, scanner and resolver compile regexes at import),
about a sixth of what ``reprokit launch`` adds to a run, only to write ``config.yaml``.
Most configs are plain: identifier-like strings, numbers, booleans, None, nested
mappings and lists. For those, :func:`dump` writes the bytes
``codec.dumps`` gets from PyYAML's pure-Python SafeDumper (block style, indent 2,
declared order); for anything else it returns None and the caller uses PyYAML. The
rules below restate the emitter's for that subset, and ``tests/configio_test.py``
compares the two on generated data.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Strings PyYAML writes plain (unquoted) whatever the context: no spaces (so no line
# folding at 80 columns), no indicator characters, and a first character that no implicit
# resolver except bool and null claims (so never an int, float, timestamp or merge key).
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*\Z")
# Words the YAML 1.1 resolver reads as booleans or null: PyYAML quotes them.
_RESERVED = frozenset(
    [
        "yes",
        "Yes",
        "YES",
        "no",
        "No",
        "NO",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
        "null",
        "Null",
        "NULL",
    ]
)
# PyYAML's implicit float pattern: a float whose text does not match would be tagged.
_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?\Z")
# A mapping key whose text plus its "!!str" tag reaches 128 characters is written as a
# complex key ("? key"); field names never come close, so stay well below.
_MAX_KEY = 100


class _Unsupported(Exception):
    """The data holds something only PyYAML itself should write."""


def _scalar(value: Any) -> str | None:
    """The text of a scalar (or an empty collection); None for a non-empty collection."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)  # SafeRepresenter.represent_float's fix-up
        if not _FLOAT.match(text):
            raise _Unsupported
        return text
    if kind is str:
        if _PLAIN.match(value) and value not in _RESERVED:
            return str(value)
        raise _Unsupported
    if kind is dict or kind is list:
        if not value:
            return "{}" if kind is dict else "[]"  # empty collections are written in flow style
        return None
    raise _Unsupported


def _mapping(data: dict[Any, Any]) -> list[str]:
    lines: list[str] = []
    for key, value in data.items():
        if type(key) is not str or len(key) > _MAX_KEY:
            raise _Unsupported
        name = _scalar(key)
        text = _scalar(value)
        if text is not None:
            lines.append(f"{name}: {text}")
        elif type(value) is dict:
            lines.append(f"{name}:")
            lines += ["  " + line for line in _mapping(value)]
        else:
            # A sequence that is a mapping's value is not indented ("indentless").
            lines.append(f"{name}:")
            lines += _sequence(value)
    return lines


def _sequence(data: list[Any]) -> list[str]:
    lines: list[str] = []
    for item in data:
        text = _scalar(item)
        if text is not None:
            lines.append(f"- {text}")
            continue
        inner = _mapping(item) if type(item) is dict else _sequence(item)
        lines.append("- " + inner[0])
        lines += ["  " + line for line in inner[1:]]
    return lines


def dump(data: Any) -> str | None:
    """The YAML text of a non-empty mapping of plain data, or None where PyYAML must write it."""
    if type(data) is not dict or not data:
        return None
    try:
        lines = _mapping(data)
    except (_Unsupported, RecursionError):
        return None
    return "\n".join(lines) + "\n"
