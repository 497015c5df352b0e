"""The JSON types of the run.json keys readers rely on, checked when a record is read.

A record is a file people edit, copy and sync: a wrong type must become one clear error
naming the file and key, not an AttributeError deep inside ``show`` or ``replay``.
"""

from __future__ import annotations

from typing import Any

# The JSON type of each documented run.json key that readers rely on (docs/architecture.md):
# a Python type (float also takes an integer), a dict for an object whose keys are checked in
# turn, a one-element list for a list whose items are checked. null is accepted everywhere,
# as records fill absent keys with it. Without this a hand-edited `"git": "oops"` reached
# `show`/`replay` as an AttributeError traceback and a crash log.
_Spec = type | dict[str, "_Spec"] | list["_Spec"]
_SCHEMA: dict[str, _Spec] = {
    "id": str,
    "status": str,
    "exit_code": int,
    # phase "setup": main never started; missing: what set-up could not capture (git, ...).
    "error": {
        "type": str,
        "message": str,
        "traceback_file": str,
        "phase": str,
        "missing": [str],
    },
    "started_at": str,
    "ended_at": str,
    "duration_s": float,
    "heartbeat_at": str,
    "pid": int,
    "pid_started": int,
    "host": str,
    "command": list,
    "cwd": str,
    "experiment": {
        "path": str,
        "module": str,
        "family": str,
        "name": str,
        "id": str,
        "parent": str,
        "config_type": str,
        "lineage": [dict],
    },
    "seed": int,
    "seed_source": str,
    "smoke": bool,
    "deterministic": bool,
    "note": str,
    "checked": bool,
    "replay_of": str,
    "replay": {
        "source_path": str,
        "rebuild": str,
        "smoke": bool,
        "cwd": str,
        "verify": {"verdict": str, "mismatches": [dict]},
        "fetched_from": str,
        "tree_mismatch": {"recorded": str, "ran": str},
        "env_refused": [str],
    },
    "ablation_of": dict,
    "rank": int,
    "world_size": int,
    "git": {
        "sha": str,
        "branch": str,
        "detached": bool,
        "dirty": bool,
        "remotes": dict,
        "modified": list,
        "staged": list,
        "deleted": list,
        "untracked": list,
        "renamed": [dict],
        "snapshot": str,
        "tree": str,
        "snapshot_ref": str,
        "patch_file": str,
        "skipped_untracked": [dict],
        "submodules": [dict],
    },
    "environment": {"python": dict, "platform": str, "packages": dict, "env": dict},
    "hardware": {"cpu": dict, "gpus": [dict]},
    "torch": dict,
    "inputs": [dict],
}
_JSON_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _matches(value: object, expected: type) -> bool:
    if isinstance(value, bool):
        return expected is bool  # JSON true is no number, though Python's bool is an int
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def _type_error(key: str, value: object, expected: type, nullable: bool) -> str:
    wanted = _JSON_NAMES[expected] + (" or null" if nullable else "")
    found = _JSON_NAMES.get(type(value), type(value).__name__)
    return f'"{key}" should be {wanted}, not {found}'


def _check_types(data: dict[str, Any], schema: dict[str, _Spec], prefix: str = "") -> str | None:
    """The first value of ``data`` whose type ``schema`` does not allow, as a message."""
    for key, spec in schema.items():
        value = data.get(key)
        if value is None:
            continue
        name = prefix + key
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                return _type_error(name, value, dict, True)
            problem = _check_types(value, spec, name + ".")
        elif isinstance(spec, list):
            if not isinstance(value, list):
                return _type_error(name, value, list, True)
            item_type = spec[0]
            assert isinstance(item_type, type)
            problem = next(
                (
                    _type_error(f"{name}[{i}]", item, item_type, False)
                    for i, item in enumerate(value)
                    if not _matches(item, item_type)
                ),
                None,
            )
        else:
            problem = None if _matches(value, spec) else _type_error(name, value, spec, True)
        if problem:
            return problem
    return None


def first_problem(record: dict[str, Any]) -> str | None:
    """The first value of ``record`` whose type the format does not allow, as a message
    (``"git" should be an object or null, not a string``); the caller names the file."""
    return _check_types(record, _SCHEMA)
