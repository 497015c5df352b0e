"""Checks RK601-RK603 and RK605-RK606: the config, and smoke's, round-trip through YAML."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
from pathlib import Path
from typing import Any

from reprokit.checks.findings import Finding
from reprokit.checks.locations import Locator


def _field_owner(config: Any, field_path: str | None) -> tuple[type | None, str | None]:
    """The dataclass that declares the last field of a dotted ``field_path``."""
    value, owner, name = config, None, None
    for part in (field_path or "").split("."):
        part = part.split("[", 1)[0]
        if not part or not dataclasses.is_dataclass(value):
            break
        owner, name = type(value), part
        value = getattr(value, part, None)
    return owner, name


def roundtrip_finding(path: Path, config: Any, loc: Locator) -> Finding | None:
    """RK601-RK603 when ``config`` does not round-trip: at the field, else at ``config =``."""
    problem = _roundtrip_problem(config)
    if problem is None:
        return None
    code, message, hint, field_path = problem
    owner, field = _field_owner(config, field_path)
    pos = loc.field_line(owner, field) if owner is not None else None
    return Finding(
        path,
        *(pos or loc.name_line("config")),
        code,
        f"config does not round-trip: {message}",
        hint,
    )


def same_config(a: Any, b: Any) -> bool:
    """``a == b``, except that NaN equals NaN: a config holding ``float("nan")`` on purpose
    round-trips (Python's NaN is never equal to itself, so ``==`` alone would refuse it)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return bool(a == b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(
            same_config(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same_config(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_config(a[k], b[k]) for k in a)
    return bool(a == b)


def _roundtrip_problem(config: Any) -> tuple[str, str, str | None, str | None] | None:
    """(code, message, hint, field_path) when ``config`` does not round-trip, else None.

    Same data path as ``codec.dumps``/``loads`` (``to_data`` -> YAML -> ``from_data``),
    but emitted with libyaml when available: the codec's pure-Python dumper (chosen for
    byte-identical records everywhere) costs ~1 ms a config, half the 2 s budget for
    1,000 experiments. Byte stability is checked on the data, which the deterministic
    dumper turns into text: equal ordered data gives equal bytes.
    """
    import yaml

    from reprokit.config import codec

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        data = codec.to_data(config)
        text = yaml.dump(
            data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
        )
        loaded = codec.loads(text, type(config), fmt="yaml")
        again = codec.to_data(loaded)
    except codec.ConfigError as e:
        return "RK601", e.message, e.hint, getattr(e, "field_path", None)
    except Exception as e:
        return "RK601", f"{type(e).__name__}: {e}", None, None
    if not same_config(loaded, config):
        return (
            "RK602",
            "loading its YAML gives a different config",
            "every field must be a plain value, a Path, an Enum, a tuple or a frozen"
            " dataclass that compares equal after a dump and load",
            None,
        )
    # repr keeps dict order and exact floats: equal reprs dump to equal bytes.
    if repr(again) != repr(data):
        return (
            "RK603",
            "its YAML is not byte-stable: dumping the loaded config gives different text",
            "avoid values whose text form changes on a round trip (e.g. sets, unordered data)",
            None,
        )
    return None


def smoke_findings(
    path: Path, smoke: Any, config: Any, loc: Locator, *, roundtrip: bool
) -> list[Finding]:
    """RK605-RK606 for ``smoke(config)``; its round trip is checked only when ``roundtrip``
    (the config's own passed: otherwise smoke's fails the same way, already reported)."""
    line, col = loc.name_line("smoke")

    def at_smoke(code: str, message: str, hint: str | None) -> list[Finding]:
        return [Finding(path, line, col, code, message, hint)]

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            small = smoke(config)
    except Exception as e:
        return at_smoke(
            "RK605",
            f"smoke(config) raised {type(e).__name__}: {e}",
            "smoke must return a quick variant of the config it is given",
        )
    if small == config:
        return []  # the config itself was round-tripped already
    if type(small) is not type(config):
        return at_smoke(
            "RK605",
            f"smoke(config) returned a {type(small).__name__}, expected a {type(config).__name__}",
            "return dataclasses.replace(config, ...) with the quick settings",
        )
    problem = _roundtrip_problem(small) if roundtrip else None
    if problem is None:
        return []
    _, message, hint, _ = problem
    return at_smoke("RK606", f"smoke(config) does not round-trip: {message}", hint)
