"""The run record's shape, once: every run.json key with its JSON type and meaning.

``RunRecord`` (a TypedDict, nested ones for the objects) is the one description of the
format. From it come ``store.RECORD_KEYS`` (every key a reader may rely on), the type check
of :func:`first_problem` (run by ``store.read_record``), and the key table of
docs/architecture.md (:func:`key_table`; tests/record_schema_test.py keeps the two equal).
Each key is ``Annotated[<type> | None, "<one line>"]``: mypy sees the type, the line is
the documentation.

A record is a file people edit, copy and sync: a wrong type must become one clear error
naming the file and key, not an AttributeError deep inside ``show`` or ``replay``.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from typing import TYPE_CHECKING, Annotated, Any

if TYPE_CHECKING:
    from typing import TypedDict as _Shape
else:

    class _Shape:
        """What the classes below are at run time: plain classes whose annotations stay
        strings until a record is checked. As TypedDicts, building them took 0.3-1.3 ms
        (one compiled ForwardRef or Annotated per key) on every launch's import; mypy
        still sees TypedDicts."""

        def __init_subclass__(cls, total: bool = True) -> None:
            cls.__total__ = total


_LIST_OF_PATHS = "list of paths (posix, relative to the repository root)"


class RunError(_Shape, total=False):
    type: Annotated[str | None, "the exception's class name"]
    message: Annotated[str | None, "the exception's message (credentials scrubbed)"]
    traceback_file: Annotated[str | None, '"traceback.txt" when main raised']
    phase: Annotated[str | None, '"setup" when main never started']
    missing: Annotated[
        list[str] | None,
        'what set-up could not capture: "git", "environment", "hardware"',
    ]


class Experiment(_Shape, total=False):
    path: Annotated[str | None, "the experiment file, relative to the root, posix"]
    module: Annotated[str | None, "its module name"]
    family: Annotated[str | None, "its folder, relative to the root"]
    name: Annotated[str | None, "the name part of its file name (name_id_parent.py)"]
    id: Annotated[str | None, 'its id, zero-padded ("07")']
    parent: Annotated[str | None, "its parent's id, zero-padded"]
    config_type: Annotated[str | None, 'the config class, "module:qualname"']
    lineage: Annotated[
        list[dict[str, Any]] | None, "[{id, name, path, sha256}, ...], the base first"
    ]


class Verify(_Shape, total=False):
    verdict: Annotated[str | None, '"match", "mismatch" or "inconclusive" (nothing to compare)']
    rtol: Annotated[float | None, "the relative tolerance compared with"]
    atol: Annotated[float | None, "the absolute tolerance compared with"]
    compared: Annotated[int | None, "how many rows were compared"]
    mismatches: Annotated[
        list[dict[str, Any]] | None,
        "[{metric, series, step, original, replay, abs_diff, rel_diff, verdict}]",
    ]


class TreeMismatch(_Shape, total=False):
    recorded: Annotated[str | None, "the tree sha the record names"]
    ran: Annotated[str | None, "the tree sha that ran"]


class Replay(_Shape, total=False):
    source_path: Annotated[str | None, "the run replayed, relative to the root"]
    rebuild: Annotated[
        str | None, 'how the snapshot came back: "ref", "commit", "fetched", "patch"'
    ]
    smoke: Annotated[bool | None, "replayed with the smoke config"]
    cwd: Annotated[
        str | None,
        'where in the worktree the replay ran, posix, "." for its root (a replay of it runs there)',
    ]
    verify: Annotated[Verify | None, "with --verify: metrics compared to the original's"]
    fetched_from: Annotated[str | None, "the remote the snapshot was fetched from"]
    from_patch: Annotated[bool | None, "true: rebuilt from diff.patch (--from-patch)"]
    tree_mismatch: Annotated[TreeMismatch | None, "with --allow-tree-mismatch"]
    env_refused: Annotated[list[str] | None, "recorded variables and torch settings not applied"]


class Ablation(_Shape, total=False):
    experiment: Annotated[str | None, "the child whose step is ablated, relative to the root"]
    field: Annotated[str | None, "the config field set back to the parent's (dotted path)"]
    step: Annotated[str | None, "the child's id"]


class Git(_Shape, total=False):
    sha: Annotated[str | None, "the commit HEAD named (null when unborn)"]
    branch: Annotated[str | None, "the branch (null when detached)"]
    detached: Annotated[bool | None, "HEAD was detached"]
    dirty: Annotated[bool | None, "the working tree differed from HEAD"]
    remotes: Annotated[dict[str, Any] | None, "{name: url}, the urls without credentials"]
    pushed: Annotated[bool | None, "HEAD is on a remote (null: not known)"]
    modified: Annotated[list[Any] | None, _LIST_OF_PATHS]
    staged: Annotated[list[Any] | None, _LIST_OF_PATHS]
    deleted: Annotated[list[Any] | None, _LIST_OF_PATHS]
    untracked: Annotated[list[Any] | None, _LIST_OF_PATHS]
    renamed: Annotated[list[dict[str, Any]] | None, "[{from, to}]"]
    snapshot: Annotated[str | None, "the snapshot commit: HEAD plus every change"]
    tree: Annotated[str | None, "the snapshot's tree sha, one per set of files"]
    snapshot_ref: Annotated[str | None, '"refs/reprokit/runs/run_7" (see capture/refs.py)']
    patch_file: Annotated[str | None, '"diff.patch"']
    skipped_untracked: Annotated[
        list[dict[str, Any]] | None,
        '[{path, size, reason: "size"|"secret"|"empty-repository", sha256 (size only)}]',
    ]
    submodules: Annotated[list[dict[str, Any]] | None, "[{path, sha}]"]


class Environment(_Shape, total=False):
    python: Annotated[dict[str, Any] | None, "{version, executable, implementation}"]
    platform: Annotated[str | None, "platform.platform()"]
    packages: Annotated[dict[str, Any] | None, "{name: version} of installed packages"]
    env: Annotated[dict[str, Any] | None, "{VAR: value} of allow-listed variables (never secrets)"]


class Hardware(_Shape, total=False):
    cpu: Annotated[dict[str, Any] | None, "{model, logical_cores, usable_cores (CPU affinity)}"]
    memory_bytes: Annotated[int | None, "the machine's memory"]
    gpus: Annotated[
        list[dict[str, Any]] | None,
        "[{index, name, uuid, memory_bytes, compute_capability, driver, cuda_driver_version}]",
    ]
    cuda_visible_devices: Annotated[str | None, "CUDA_VISIBLE_DEVICES as the run saw it"]


class RunRecord(_Shape):
    """run.json after ``store.read_record``: every key present, ``None`` where not
    applicable (nested objects may lack keys older records did not write)."""

    format_version: Annotated[int, "1 (readers refuse a newer one)"]
    id: Annotated[str | None, '"run_7"']
    status: Annotated[
        str | None,
        '"running", "completed", "failed" or "interrupted" (readers may show "crashed": see below)',
    ]
    exit_code: Annotated[int | None, "the exit code of the launch"]
    error: Annotated[RunError | None, "why the run failed or was interrupted"]
    started_at: Annotated[str | None, 'UTC ISO 8601, "2026-11-25T20:01:02.123456+00:00"']
    ended_at: Annotated[str | None, "UTC ISO 8601"]
    duration_s: Annotated[float | None, "seconds from start to end"]
    heartbeat_at: Annotated[str | None, "UTC ISO 8601, rewritten every 10 s from the run's start"]
    pid: Annotated[int | None, "the launch's process id"]
    pid_started: Annotated[
        int | None,
        "its start time (Linux: field 22 of /proc/PID/stat, clock ticks since boot)",
    ]
    host: Annotated[str | None, "this host's name"]
    command: Annotated[list[Any] | None, "argv, credentials scrubbed"]
    cwd: Annotated[str | None, "the working directory of the launch"]
    experiment: Annotated[Experiment | None, "the experiment file that ran"]
    seed: Annotated[int | None, "the seed the run used"]
    seed_source: Annotated[str | None, '"config", "cli" or "drawn"']
    smoke: Annotated[bool | None, "run with the smoke config"]
    deterministic: Annotated[bool | None, "run with --deterministic"]
    note: Annotated[str | None, "the --note text"]
    checked: Annotated[bool | None, "false with --no-check, and for a replay (it re-runs what ran)"]
    replay_of: Annotated[str | None, 'the root original a replay re-ran ("run_3")']
    resumed_from: Annotated[
        str | None, 'the run this one resumed, its previous attempt ("run_3"; launch --resume)'
    ]
    replay: Annotated[Replay | None, "set for a replay"]
    ablation_of: Annotated[Ablation | None, "set for a variant of blame --ablate"]
    rank: Annotated[int | None, "the torchrun rank (only rank 0 writes a record)"]
    world_size: Annotated[int | None, "the torchrun world size"]
    git: Annotated[Git | None, "the code that ran (null: no git repository, or see error.missing)"]
    environment: Annotated[Environment | None, "the Python environment"]
    hardware: Annotated[Hardware | None, "CPU, memory, GPUs (nvidia-smi, never CUDA)"]
    torch: Annotated[
        dict[str, Any] | None,
        "{version, cuda, cudnn, intra_op_threads, inter_op_threads, deterministic_algorithms,"
        " cudnn_deterministic, cudnn_benchmark, allow_tf32_matmul, allow_tf32_cudnn,"
        " float32_matmul_precision, cpu_capability}",
    ]
    inputs: Annotated[
        list[dict[str, Any]] | None,
        '[{field, path, kind: "file"|"dir", size, mtime, sha256 (files <= 1 MiB), files'
        " (dir: count), complete (dir: false past 100,000 files)}]: paths the config names",
    ]


# Every key in the order above, from the class alone (no annotation is evaluated: this
# runs on every launch's import).
RECORD_KEYS: tuple[str, ...] = tuple(RunRecord.__annotations__)

# The check's form of the schema: a Python type (float also takes an integer), a dict for
# an object whose keys are checked in turn, a one-element list for a list whose items are
# checked. null is accepted everywhere, as records fill absent keys with it. Without the
# check a hand-edited `"git": "oops"` reached `show`/`replay` as an AttributeError
# traceback and a crash log.
_Spec = type | dict[str, "_Spec"] | list["_Spec"]
_SCALARS = (str, int, float, bool)


# One documented key: its dotted name (``git.sha``), JSON type in words, meaning.
Key = tuple[str, str, str]


def _is_object(tp: Any) -> bool:
    """One of the classes above (a nested object whose keys are checked)."""
    return isinstance(tp, type) and hasattr(tp, "__total__")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[__name__]), include_extras=True)


def _split(hint: Any) -> tuple[Any, str]:
    """``Annotated[T | None, doc]`` -> (T, doc)."""
    base, doc = typing.get_args(hint)
    args = [a for a in typing.get_args(base) if a is not type(None)]
    if isinstance(base, types.UnionType) or typing.get_origin(base) is typing.Union:
        assert len(args) == 1, f"one type and None, not {base}"
        base = args[0]
    return base, doc


def _spec(tp: Any) -> _Spec:
    if _is_object(tp):
        return {key: _spec(_split(hint)[0]) for key, hint in _hints(tp).items()}
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        checked = typing.get_origin(item) or item
        return list if checked is Any else [checked]
    if origin is dict:
        return dict
    assert tp in _SCALARS, f"no JSON type for {tp}"
    return typing.cast(type, tp)


# The annotations' own text (``"Annotated[list[str] | None, 'doc']"``, as Python keeps
# it under `from __future__ import annotations`) read by hand: evaluating them (typing's
# get_type_hints) cost 2-15 ms on the first record every reader process checks, mostly
# compiling each string. tests/record_schema_test.py checks this against the evaluated form.
_SCALAR_NAMES = {tp.__name__: tp for tp in _SCALARS}


def _type_text(body: str) -> str:
    """``list[dict[str, Any]] | None, 'doc']`` -> ``list[dict[str, Any]] | None``."""
    depth = 0
    for i, char in enumerate(body):
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            return body[:i]
    raise AssertionError(f"not Annotated[<type>, <doc>]: {body}")


def _spec_of_text(text: str) -> _Spec:
    name = _type_text(text.removeprefix("Annotated[")).removesuffix(" | None")
    if name in _SCALAR_NAMES:
        return _SCALAR_NAMES[name]
    if name.startswith("list["):
        item = name[5:-1]
        return (
            list if item == "Any" else [dict if item.startswith("dict[") else _SCALAR_NAMES[item]]
        )
    if name.startswith("dict["):
        return dict
    return _object_of_text(globals()[name])


def _object_of_text(cls: type) -> dict[str, _Spec]:
    return {key: _spec_of_text(text) for key, text in cls.__annotations__.items()}


@functools.cache
def _schema() -> dict[str, _Spec]:
    # Built on the first check, not at import: every launch imports this module, and only
    # a replay's reads a record.
    return _object_of_text(RunRecord)


_JSON_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


_WORDS = {dict: "object", list: "list", str: "string", int: "integer", float: "number"}


def _words(spec: _Spec) -> str:
    """A spec's JSON type as the key table says it: ``object``, ``list of strings``."""
    if isinstance(spec, dict):
        return "object"
    if isinstance(spec, list):
        return f"list of {_WORDS[typing.cast(type, spec[0])]}s"
    return "true/false" if spec is bool else _WORDS[spec]


def all_keys(cls: type = RunRecord, prefix: str = "") -> list[Key]:
    """Every key of the format, nested ones after their object (``git``, ``git.sha``)."""
    found: list[Key] = []
    for name, hint in _hints(cls).items():
        tp, doc = _split(hint)
        found.append((prefix + name, _words(_spec(tp)), doc))
        if _is_object(tp):
            found.extend(all_keys(tp, f"{prefix}{name}."))
    return found


def key_table() -> str:
    """The record section's key table of docs/architecture.md, in Markdown."""
    rows = [f"| `{name}` | {words} | {doc.replace('|', '/')} |" for name, words, doc in all_keys()]
    return "\n".join(["| key | JSON type | meaning |", "|---|---|---|", *rows])


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
    return _check_types(record, _schema())
