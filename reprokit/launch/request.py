"""A launch as data: what to run and what to record, for launches made by reprokit itself.

``reprokit launch`` builds a :class:`LaunchRequest` from its flags; replay and
``blame --ablate`` build one from a record and hand it to a child process
(:mod:`reprokit.launch.entry`), since a replay runs inside a rebuilt worktree with its own
working directory and environment, and an ablation variant must not share the blaming
process's imports. Sweeps (one child per job) and torchrun (the same request file given
to every rank; only rank 0 records) use the same two pieces.

A request crosses a process boundary as JSON, so :func:`from_json` refuses anything it
does not know: an unknown key, a value of the wrong type, a path that is not where it
belongs (the rules of :mod:`reprokit.record.trust`, the record-facing keys checked by the
record's own schema). The record facts a caller may add are typed fields (``replay_of``,
``replay``, ``ablation_of``, ``smoke_label``), never an arbitrary bag of run.json keys.

The child tells its parent which run it made by writing ``{"run_id", "run_dir"}`` to a
result file the parent named, as soon as the run folder is claimed: a run whose ``main``
crashed (or was killed) still says where its record is. This module imports no launch
code, so a caller that only starts children (``blame --ablate``) stays light.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

from reprokit.errors import ReprokitError
from reprokit.files import write_atomic
from reprokit.record import schema, trust

# The child entry, run as `python -m ENTRY_MODULE REQUEST.json RESULT.json`.
ENTRY_MODULE = "reprokit.launch.entry"
_REQUEST_HINT = "requests are written by reprokit (replay, blame --ablate); do not edit them"


@dataclass(frozen=True)
class LaunchRequest:
    """One run to launch. ``experiment`` is a posix path relative to the project root (the
    child's project may be a rebuilt worktree); ``outputs`` and ``git_from`` are absolute.

    ``config``: the config ``main`` receives, as plain data (None: the experiment's own);
    ``git_from``: a run folder whose snapshot this run records instead of capturing one;
    ``smoke_label``: record ``smoke: true`` without applying ``smoke()`` (the config given
    already is a smoke config: a replay of a smoke run);
    ``resume_of``: the run folder of the attempt this run resumes (``launch --resume``, a
    requeued job), recorded as ``resumed_from`` and told to ``main`` by ``current_run()``.
    """

    experiment: str
    outputs: Path | None = None
    seed: int | None = None
    smoke: bool = False
    deterministic: bool = False
    config: Mapping[str, Any] | None = None
    check: bool = True
    note: str | None = None
    git_from: Path | None = None
    replay_of: str | None = None
    replay: schema.Replay | None = None
    ablation_of: schema.Ablation | None = None
    smoke_label: bool = False
    resume_of: Path | None = None

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        for key in ("outputs", "git_from", "resume_of"):
            data[key] = None if data[key] is None else str(data[key])
        return json.dumps(data, sort_keys=True)

    def experiment_file(self, root: Path) -> Path:
        """The experiment's path under ``root`` (the project), refused when it leaves it."""
        problem = trust.relative_path_problem(self.experiment)
        if problem is not None:
            raise _refused("experiment", f"must be a relative path inside {root}; it {problem}", self.experiment)  # fmt: skip
        path = root / self.experiment
        if not trust.is_inside(path, root):
            raise _refused("experiment", f"leads out of {root} through a link", self.experiment)
        return path

    def checked_git_from(self, outputs: Path) -> Path | None:
        """``git_from``, refused unless it is a run folder inside ``outputs``."""
        return _run_folder("git_from", self.git_from, outputs)

    def checked_resume_of(self, outputs: Path) -> Path | None:
        """``resume_of``, refused unless it is a run folder directly inside ``outputs`` (a
        chain's attempts are found next to each other)."""
        folder = _run_folder("resume_of", self.resume_of, outputs)
        if folder is None:
            return None
        if not trust.RUN_ID.fullmatch(folder.name) or Path(os.path.abspath(folder)).parent != Path(
            os.path.abspath(outputs)
        ):
            raise _refused("resume_of", f"must be a run folder (run_N) in {outputs}", folder)
        return folder


def _run_folder(key: str, value: Path | None, outputs: Path) -> Path | None:
    if value is None:
        return None
    # As written: a run folder may be the user's link to one kept elsewhere (its files
    # are read as every run folder's are, store.read_regular).
    folder, outputs = Path(os.path.abspath(value)), Path(os.path.abspath(outputs))
    if folder == outputs or not trust.is_inside(folder, outputs, links=False):
        raise _refused(key, f"must be a run folder inside {outputs}", value)
    return value


class LaunchedRun(NamedTuple):
    """The run a launch made: its id and folder (None on a torchrun rank other than 0,
    which records nothing), the exit code and the record's status."""

    run_id: str | None
    run_dir: Path | None
    exit_code: int
    status: str | None


_FIELDS = {f.name: f for f in dataclasses.fields(LaunchRequest)}
_BOOLS = ("smoke", "deterministic", "check", "smoke_label")
# Checked by the record's schema: they are written to run.json as they are.
_RECORD_FACTS = {"replay": schema.Replay, "ablation_of": schema.Ablation}


def _refused(key: str, problem: str, value: Any) -> ReprokitError:
    shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."
    return ReprokitError(f"launch request: {key} {problem}: {shown}", hint=_REQUEST_HINT)


def _absolute(key: str, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value or not os.path.isabs(value):
        raise _refused(key, "must be an absolute path", value)
    return Path(value)


def _check_record_facts(data: Mapping[str, Any]) -> None:
    for key, shape in _RECORD_FACTS.items():
        value = data.get(key)
        if isinstance(value, dict):
            known = shape.__annotations__.keys()
            unknown = sorted(set(value) - known)
            if unknown:
                raise _refused(key, f"has unknown keys {', '.join(unknown)}", value)
    problem = schema.first_problem({k: data.get(k) for k in (*_RECORD_FACTS, "note", "seed")})
    if problem is not None:
        raise ReprokitError(f"launch request: {problem}", hint=_REQUEST_HINT)


def from_data(data: Any) -> LaunchRequest:
    """A request from its JSON data, every value checked (see the module docstring)."""
    if not isinstance(data, dict):
        raise ReprokitError(
            f"launch request: not a JSON object: {str(data)[:200]}", hint=_REQUEST_HINT
        )
    unknown = sorted(set(data) - _FIELDS.keys())
    if unknown:
        raise ReprokitError(
            f"launch request: unknown key {', '.join(unknown)} (known: {', '.join(_FIELDS)})",
            hint=_REQUEST_HINT,
        )
    problem = trust.relative_path_problem(data.get("experiment"))
    if problem is not None or not str(data["experiment"]).endswith(".py"):
        why = f"must be a relative path to a .py file; it {problem or 'is not a .py file'}"
        raise _refused("experiment", why, data.get("experiment"))
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _refused("seed", "is not an integer", seed)
    for key in _BOOLS:
        if not isinstance(data.get(key, _FIELDS[key].default), bool):
            raise _refused(key, "must be true or false", data[key])
    config = data.get("config")
    if config is not None and not isinstance(config, dict):
        raise _refused("config", "must be an object (the config's plain data) or null", config)
    replay_of = data.get("replay_of")
    # A pulled run's replay names it in full (``alice@gpu-3/run_2``, record/share.py).
    if replay_of is not None and not (
        isinstance(replay_of, str)
        and (trust.RUN_ID.fullmatch(replay_of) or trust.shared_run_id(replay_of))
    ):
        raise _refused(
            "replay_of", "is not a run id (run_<number> or <user>@<host>/run_<number>)", replay_of
        )
    _check_record_facts(data)
    values = dict(data)
    values["outputs"] = _absolute("outputs", data.get("outputs"))
    values["git_from"] = _absolute("git_from", data.get("git_from"))
    values["resume_of"] = _absolute("resume_of", data.get("resume_of"))
    return LaunchRequest(**values)


def from_json(text: str) -> LaunchRequest:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReprokitError(f"launch request: not valid JSON: {e.msg}", hint=_REQUEST_HINT) from e
    return from_data(data)


def read_request(path: Path) -> LaunchRequest:
    """The request in ``path``; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReprokitError(f"{path}: cannot read the launch request: {e}") from e
    try:
        return from_json(text)
    except ReprokitError as e:
        raise ReprokitError(f"{path}: {e.message}", hint=e.hint) from e


def write_claimed(result_file: Path, run_id: str, run_dir: Path) -> None:
    """In the child, as soon as the run folder is claimed: tell the parent which it is."""
    body = {"run_id": run_id, "run_dir": str(run_dir)}
    write_atomic(result_file, json.dumps(body).encode("utf-8"))


def read_claimed(result_file: Path, outputs: Path) -> tuple[str, Path] | None:
    """The run a child claimed (None when it claimed none), checked: a run id, and its
    folder inside ``outputs``."""
    try:
        data = json.loads(result_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ReprokitError(f"{result_file}: the launch's result is unreadable: {e}") from e
    if not isinstance(data, dict):
        raise ReprokitError(f"{result_file}: the launch's result is not a JSON object")
    run_id = trust.run_id(data.get("run_id"), result_file, "run_id")
    run_dir = Path(str(data.get("run_dir")))
    if run_dir.name != run_id or not trust.is_inside(run_dir, outputs):
        raise trust.refusal(result_file, "run_dir", f"is not {run_id} inside {outputs}", run_dir)
    return run_id, run_dir


def entry_argv(*args: str) -> list[str]:
    """The child entry in a fresh interpreter (this one): ``python -m`` ENTRY_MODULE."""
    return [sys.executable, "-m", ENTRY_MODULE, *args]


class ChildLaunch:
    """A request written for a child process, and the file it answers in (:func:`child`)."""

    def __init__(self, folder: Path, request: LaunchRequest, outputs: Path) -> None:
        self.request_file = folder / "request.json"
        self.result_file = folder / "result.json"
        self.outputs = outputs
        self.request_file.write_text(request.to_json(), encoding="utf-8")

    @property
    def entry_args(self) -> list[str]:
        """The entry's arguments (for a command that starts it another way: replay's)."""
        return [str(self.request_file), str(self.result_file)]

    def argv(self) -> list[str]:
        """``python -m reprokit.launch.entry REQUEST RESULT`` with this interpreter."""
        return entry_argv(*self.entry_args)

    def result(self, exit_code: int) -> LaunchedRun | None:
        """The run the child made (None when it exited before claiming one)."""
        claimed = read_claimed(self.result_file, self.outputs)
        if claimed is None:
            return None
        run_id, run_dir = claimed
        status = None
        with contextlib.suppress(OSError, ValueError):
            record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
            status = record.get("status") if isinstance(record, dict) else None
        return LaunchedRun(run_id, run_dir, exit_code, cast("str | None", status))


@contextlib.contextmanager
def child(request: LaunchRequest, outputs: Path) -> Iterator[ChildLaunch]:
    """A temporary folder holding the request for a child and its result file; removed
    after. ``outputs``: where the child records (the request's own, when it names one)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="reprokit-launch-"))
    try:
        yield ChildLaunch(folder, request, request.outputs or outputs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
