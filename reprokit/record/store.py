"""The outputs folder: run ids, atomic record files, the format version, effective status.

Run ids are claimed atomically, so any number of launches started at once get distinct
folders without a lock file: a launch renames a hidden claim folder holding its first
run.json to ``run_N`` (a rename never takes a folder that has a record), so a run folder
never exists without its record. Every file is written to a temporary name in the same
folder and moved into place with ``os.replace``, so a reader never sees half a record.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeGuard

from reprokit.capture.process import hostname, proc_stat
from reprokit.errors import ReprokitError
from reprokit.files import write_atomic
from reprokit.paths import shown
from reprokit.record import schema, trust
from reprokit.settings import Settings

FORMAT_VERSION = 1
RECORD_FILE = "run.json"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
OUTPUT_FILE = "output.log"
PATCH_FILE = "diff.patch"
TRACEBACK_FILE = "traceback.txt"

RUN_RE = re.compile(r"^run_(\d+)$")
# A running record whose heartbeat is older than this is shown as crashed, unless its own
# process is alive on this host (the heartbeat thread rewrites it every HEARTBEAT_INTERVAL_S).
HEARTBEAT_INTERVAL_S = 10.0
STALE_AFTER_S = 60.0
_MKDIR_ATTEMPTS = 1000

# Every documented run.json key, from the one schema (record/schema.py): readers can rely
# on all of them.
RECORD_KEYS = schema.RECORD_KEYS


def run_number(name: str) -> int | None:
    """``run_12`` -> 12; None for anything else."""
    m = RUN_RE.match(name)
    return int(m.group(1)) if m else None


def run_dirs(outputs: Path, *, shared: bool = True) -> list[Path]:
    """Every ``run_N`` folder under ``outputs``, by N; then, unless ``shared`` is False,
    the runs pulled from teammates (``outputs/<user>@<host>/run_N``, record/sharing.py),
    by namespace and N."""
    local = _numbered_dirs(outputs)
    if not shared:
        return local
    return local + [run for ns in namespace_dirs(outputs) for run in _numbered_dirs(ns)]


def _numbered_dirs(folder: Path) -> list[Path]:
    found: list[tuple[int, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        n = run_number(entry.name)
        if n is not None and entry.is_dir():
            found.append((n, Path(entry.path)))
    return [p for _, p in sorted(found)]


def namespace_dirs(outputs: Path) -> list[Path]:
    """The folders of teammates' pulled runs (``outputs/alice@gpu-3``), by name: real
    folders only (a link could make a namespace read another person's folder)."""
    try:
        entries = list(os.scandir(outputs))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        Path(e.path)
        for e in entries
        if trust.is_namespace(e.name) and e.is_dir(follow_symlinks=False)
    )


def namespace_of(run_dir: Path) -> str | None:
    """The teammate namespace a run folder is in (``alice@gpu-3``); None for a local run."""
    parent = run_dir.parent.name
    return parent if trust.is_namespace(parent) else None


def run_id_of(run_dir: Path) -> str:
    """A run's id as shown and typed: ``run_7``, or ``alice@gpu-3/run_7`` for a pulled run."""
    namespace = namespace_of(run_dir)
    return f"{namespace}/{run_dir.name}" if namespace else run_dir.name


def qualified(run_dir: Path, run_id: str) -> str:
    """A run id a record in ``run_dir`` names (its ``replay_of``), as this outputs folder
    knows it: a pulled run's ``run_3`` is its namespace's, ``alice@gpu-3/run_3``."""
    namespace = namespace_of(run_dir)
    if namespace and run_number(run_id) is not None:
        return f"{namespace}/{run_id}"
    return run_id


# A claim in progress: a hidden folder holding the first run.json, renamed to run_N. A
# launch killed while claiming leaves only this (readers ignore it; the next launch
# removes it once it is older than _STALE_CLAIM_S).
_CLAIM_PREFIX = ".claim-"
_STALE_CLAIM_S = 60.0


def _remove_stale_claims(outputs: Path, entries: list[os.DirEntry[str]]) -> None:
    import shutil

    cutoff = time.time() - _STALE_CLAIM_S
    for entry in entries:
        if entry.name.startswith(_CLAIM_PREFIX):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    shutil.rmtree(entry.path, ignore_errors=True)


def remove_stale_claims(folder: Path) -> None:
    """Remove hidden claim folders older than a minute (left by a killed launch or pull)."""
    _remove_stale_claims(folder, _entries(folder))


def _taken(error: OSError, path: Path) -> bool:
    """A rename onto ``path`` failed because another launch holds it (not a real error)."""
    return error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR) or (
        isinstance(error, PermissionError | IsADirectoryError) and path.exists()
    )


def new_run_dir(
    outputs: Path, record: Callable[[str], dict[str, Any]] | None = None
) -> tuple[str, Path]:
    """Claim the next free ``run_N`` folder atomically; return its id and path.

    With ``record`` (the first run.json, made for the id), the folder appears with its
    run.json already inside: written in a hidden claim folder that is then renamed to
    ``run_N``. 2 of 60 launches killed at random times once left a ``run_N`` with no
    run.json (killed between the mkdir and the first write); now a kill leaves either a
    complete first record or a hidden claim folder. Without ``record``: a bare mkdir.
    """
    try:
        outputs.mkdir(parents=True, exist_ok=True)
        return _claim(outputs, record)
    except OSError as e:
        why = "it is not a folder" if outputs.exists() and not outputs.is_dir() else e.strerror
        raise ReprokitError(
            f"{shown(outputs)}: cannot create a run folder: {why or e}",
            hint="make the outputs folder writable (or free disk space), or choose another "
            "with --outputs",
        ) from e


def _claim(outputs: Path, record: Callable[[str], dict[str, Any]] | None) -> tuple[str, Path]:
    entries = _entries(outputs)
    _remove_stale_claims(outputs, entries)
    numbers = (run_number(e.name) for e in entries)
    candidate = max((n for n in numbers if n is not None), default=0) + 1
    staging: Path | None = None
    if record is not None:
        staging = outputs / f"{_CLAIM_PREFIX}{os.getpid()}.{time.monotonic_ns()}"
        os.mkdir(staging)
    try:
        for _ in range(_MKDIR_ATTEMPTS):
            path = outputs / f"run_{candidate}"
            try:
                if staging is None or record is None:
                    os.mkdir(path)
                else:
                    # Written in place: nobody reads a claim folder, so no temp + rename.
                    with open(staging / RECORD_FILE, "wb") as f:
                        f.write(_json_bytes(record(path.name)))
                    # rename(2) replaces only an *empty* folder: a run_N with its record is
                    # never taken over; an empty one is a leftover of a killed launch.
                    os.rename(staging, path)
                    staging = None
            except OSError as e:
                if not (isinstance(e, FileExistsError) or _taken(e, path)):
                    raise
                # Another launch claimed it between our scan and now: take the next one.
                candidate += 1
                continue
            return path.name, path
    finally:
        if staging is not None:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    raise ReprokitError(f"{outputs}: could not claim a run folder after {_MKDIR_ATTEMPTS} tries")


def _entries(outputs: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(outputs) as it:
            return list(it)
    except FileNotFoundError:
        return []


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1, default=str) + "\n").encode("utf-8")


def write_json(path: Path, data: Any) -> None:
    """Machine records are JSON with sorted keys (diff-friendly), written atomically."""
    write_atomic(path, _json_bytes(data))


def overwrite_json(path: Path, data: Any) -> None:
    """Rewrite a file in place (not atomic): the last resort when no temp file can be made."""
    with open(path, "r+b") as f:
        f.write(_json_bytes(data))
        f.truncate()


# The most a reader loads of one file of a run folder. Records are ~100 KB (most of it
# the package list); metrics.jsonl grows with the run (100 bytes a row is 10 million rows).
# A file past this is refused by name instead of filling memory (a summary.json linked to
# /dev/zero once did).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_METRICS_BYTES = 1024 * 1024 * 1024
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _shown_file(path: Path) -> str:
    """A file of a run folder for a message: the name in the folder, never a link's target
    (``shown`` resolves links)."""
    return os.path.join(shown(path.parent), path.name)


def _not_regular(path: Path, what: str) -> ReprokitError:
    return ReprokitError(
        f"{_shown_file(path)}: {what}, not a regular file; reprokit reads only regular files"
        " in a run folder",
        hint=f"replace {path.name} with the file the run wrote, or delete the run folder"
        f" {shown(path.parent)} if the run is not needed",
    )


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


@contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    """Open a file of a run folder for reading, refusing anything but a regular file.

    Run folders come from other people: a FIFO once hung ``runs`` forever and a link to
    /dev/zero filled memory. So the file is opened with O_NONBLOCK (opening a FIFO cannot
    wait for a writer), checked with fstat on the open descriptor (no race with a swap),
    and a symbolic link must stay inside the file's own folder. Raises FileNotFoundError
    when there is no such file (callers decide what missing means) and ReprokitError,
    naming the file, for anything else that cannot be read.
    """
    folder = path.parent
    if os.path.islink(path) and not trust.is_inside(path, folder):
        target = os.path.realpath(path)
        raise _not_regular(path, f"a symbolic link to {target}, outside its run folder")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(path) from None
    except OSError as e:
        raise ReprokitError(f"{_shown_file(path)}: cannot be read: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, _kind(mode))
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def read_regular(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of a run folder (:func:`open_regular`), at most
    ``limit`` of them: a longer file is refused with a message naming it."""
    with open_regular(path) as f:
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise ReprokitError(f"{_shown_file(path)}: cannot be read: {e.strerror}") from None
    if len(data) > limit:
        raise ReprokitError(
            f"{_shown_file(path)}: larger than {limit // 2**20} MiB, more than reprokit reads of"
            " one file of a run folder",
            hint="this file was not written by reprokit as it is; restore it, or delete"
            f" the run folder {shown(path.parent)} if the run is not needed",
        )
    return data


def read_json(path: Path) -> Any:
    """A JSON file of a run folder (:func:`read_regular`); ReprokitError naming the file
    when it is not valid JSON, or holds a number too long to convert."""
    data = read_regular(path)
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise ReprokitError(
            f"{_shown_file(path)}: not valid JSON (line {e.lineno}): {e.msg}",
            hint="the file was edited or truncated by hand; restore it or delete the run folder",
        ) from e
    except (ValueError, RecursionError) as e:
        # Python refuses ints of more than 4,300 digits (a denial-of-service guard), and
        # nesting deeper than its recursion limit.
        what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ReprokitError(
            f"{_shown_file(path)}: cannot be read as JSON: {what}",
            hint="the file was edited by hand; restore it or delete the run folder",
        ) from None


def migrate(record: dict[str, Any], *, path: Path | None = None) -> dict[str, Any]:
    """Bring a record of any known format version up to :data:`FORMAT_VERSION`.

    Refuses records written by a newer reprokit with a readable message. Version 1 is the
    first format, so the only step today is filling keys a reader may rely on.
    """
    where = f"{path}: " if path else ""
    version = record.get("format_version")
    if not isinstance(version, int):
        raise ReprokitError(
            f"{where}the run record has no valid format_version ({version!r})",
            hint="this is not a reprokit run record",
        )
    if version > FORMAT_VERSION:
        raise ReprokitError(
            f"{where}the run record has format_version {version}, newer than this reprokit "
            f"understands ({FORMAT_VERSION})",
            hint="upgrade reprokit (pip install -U reprokit) to read it",
        )
    # Future format changes go here as `if version == N: ...; version = N + 1` steps.
    migrated = dict(record)
    for key in RECORD_KEYS:
        migrated.setdefault(key, None)
    migrated["format_version"] = FORMAT_VERSION
    return migrated


def read_record(run_dir: Path) -> dict[str, Any]:
    """The run's ``run.json``, migrated to the current format, its value types checked."""
    path = run_dir / RECORD_FILE
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ReprokitError(
            f"{run_dir}: no {RECORD_FILE} here",
            hint="the folder is not a reprokit run, or its launch was killed before it began",
        ) from None
    if not isinstance(data, dict):
        raise ReprokitError(
            f"{shown(path)}: the run record is a JSON {type(data).__name__}, not an object",
            hint=f"restore {RECORD_FILE} from a backup, or delete the run folder "
            f"{shown(run_dir)} if the run is not needed",
        )
    record = migrate(data, path=path)
    problem = schema.first_problem(record)
    if problem:
        # The path is worked out only here: resolving it costs more than the check itself.
        raise ReprokitError(
            f"{shown(path)}: {problem}",
            hint=f"restore {RECORD_FILE} from a backup, or delete the run folder "
            f"{shown(run_dir)} if the run is not needed",
        )
    return record


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's final metrics, ``{}`` when it has none yet."""
    path = run_dir / SUMMARY_FILE
    try:
        data = read_json(path)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ReprokitError(
            f"{shown(path)}: the summary is a JSON {type(data).__name__}, not an object",
            hint=f"{SUMMARY_FILE} holds the metrics main returned; restore or delete it",
        )
    return data


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every logged row of ``metrics.jsonl``; a torn (half-written) last line is ignored."""
    try:
        raw = read_regular(run_dir / METRICS_FILE, limit=MAX_METRICS_BYTES)
    except FileNotFoundError:
        return []
    rows: list[dict[str, Any]] = []
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # not JSON; a 4,300-digit int; deep nesting
            if i >= len(lines) - 2:
                # A killed run may have left its last line half-written; that is expected.
                continue
            raise ReprokitError(
                f"{run_dir / METRICS_FILE}:{i + 1}: not valid JSON",
                hint="metrics.jsonl is written by reprokit.log; was it edited by hand?",
            ) from None
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _valid_pid(pid: object) -> TypeGuard[int]:
    """Whether ``pid`` can name one process (a positive int within pid_t)."""
    return isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def parse_time(value: object) -> float | None:
    """Seconds since the epoch for a recorded ISO 8601 time; None when absent/invalid."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError):
        return None


def replay_verdict(record: dict[str, Any]) -> str | None:
    """A replay record's verify verdict (``match``/``mismatch``), None when unverified."""
    replay = record.get("replay")
    checked = replay.get("verify") if isinstance(replay, dict) else None
    return str(checked["verdict"]) if isinstance(checked, dict) and checked.get("verdict") else None


class Liveness(NamedTuple):
    """What readers make of a record's status (:func:`liveness`)."""

    status: str
    # Why a "running" record reads as it does, for `show`; None when there is nothing to say:
    #   "exited"      crashed: its pid is not alive on this host
    #   "pid-reused"  crashed: its pid is alive on this host but is a later process
    #   "silent"      crashed: no heartbeat for stale_after seconds from another host
    #   "unverified"  crashed: no heartbeat, and its pid is alive here, but the record has
    #                 no pid_started (older records, no /proc) to tell it is still the run's
    #   "stalled"     running: no heartbeat, but the run's own process is alive here
    #                 (stopped with SIGSTOP, or busy in a long call that holds the GIL)
    reason: str | None = None
    silent_s: float | None = None  # seconds since the last heartbeat, when known


def liveness(
    record: dict[str, Any], *, now: float | None = None, stale_after: float = STALE_AFTER_S
) -> Liveness:
    """The effective status of a record, and why (see :class:`Liveness`).

    A ``running`` record is its process's own on this host when the pid is alive and its
    start time matches ``pid_started``: then it is running however old its heartbeat is
    (a set-up over 60 s, a stopped process). Otherwise the heartbeat, rewritten every 10 s,
    decides: older than ``stale_after`` seconds is crashed — the only signal for runs on
    other hosts, and for records without ``pid_started`` since a pid can be reused.
    """
    status = str(record.get("status"))
    if status != "running":
        return Liveness(status)
    beat = parse_time(record.get("heartbeat_at")) or parse_time(record.get("started_at"))
    silent = None if beat is None else (time.time() if now is None else now) - beat
    stale = silent is None or silent > stale_after
    pid = record.get("pid")
    # A pid from a record may be anything an int can be: 0 or -1 would make os.kill signal
    # a whole process group, and one past the platform's pid_t raised OverflowError.
    if record.get("host") == hostname() and _valid_pid(pid):
        if not _pid_alive(pid):
            return Liveness("crashed", "exited", silent)
        recorded = record.get("pid_started")
        stat = proc_stat(pid) if isinstance(recorded, int) else None
        if stat is not None:
            state, started = stat
            if started != recorded:
                return Liveness("crashed", "pid-reused", silent)
            if state in (b"Z", b"X"):  # ended, not yet reaped by its parent
                return Liveness("crashed", "exited", silent)
            return Liveness("running", "stalled" if stale else None, silent)
        if stale:
            return Liveness("crashed", "unverified", silent)
    if stale:
        return Liveness("crashed", "silent", silent)
    return Liveness("running", None, silent)


def setup_incomplete(record: dict[str, Any]) -> list[str] | None:
    """For a run stopped during set-up (before main started): the record parts that were
    never captured (``error.missing``: ``git``, ``environment``, ``hardware``; may be
    empty); None for a run whose set-up finished."""
    error = record.get("error")
    if not isinstance(error, dict) or error.get("phase") != "setup":
        return None
    missing = error.get("missing")
    return [str(m) for m in missing] if isinstance(missing, list) else []


def effective_status(
    record: dict[str, Any], *, now: float | None = None, stale_after: float = STALE_AFTER_S
) -> str:
    """The status readers show: ``crashed`` for a ``running`` record nobody is running."""
    return liveness(record, now=now, stale_after=stale_after).status


def resolve_run(spec: str, settings: Settings) -> Path:
    """A run folder from ``run_N``, a pulled run's ``alice@gpu-3/run_N``, ``outputs/run_N``
    or any path to a run folder."""
    candidates = []
    if run_number(spec) is not None or trust.shared_run_id(spec) is not None:
        candidates.append(settings.outputs / spec)
    path = Path(spec)
    candidates.append(path if path.is_absolute() else Path.cwd() / path)
    candidates.append(settings.root / path)
    for candidate in candidates:
        # lexists: a run.json that is a FIFO or a dangling link is this run's problem, which
        # read_record names, not a reason to say there is no such run.
        if os.path.lexists(candidate / RECORD_FILE):
            # Only the parent is resolved: a run folder that is a link stays where the user
            # addressed it, so what is written next to it (a replay's run folder) lands in
            # this outputs folder, never where the link points.
            return candidate.parent.resolve() / candidate.name
    known = [run_id_of(p) for p in run_dirs(settings.outputs)]
    if not known:
        hint = f"there are no runs in {shown(settings.outputs)}; start one with `reprokit launch`"
    elif len(known) <= 6:
        hint = f"the runs in {shown(settings.outputs)} are {', '.join(known)}"
    else:
        hint = (
            f"the runs in {shown(settings.outputs)} are {known[0]} to {known[-1]} "
            f"({len(known)} runs; `reprokit runs` lists them)"
        )
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is not None and run_number(folder.name) is not None:
        kept = sorted(p.name for p in folder.iterdir())[:5]
        raise ReprokitError(
            f"{spec}: incomplete run folder: it has no {RECORD_FILE}, so its launch was killed "
            "while starting (or the folder was not made by reprokit); there is no record "
            "to show or replay",
            hint=f"it holds {', '.join(kept) if kept else 'nothing'}; delete "
            f"{shown(folder)} if that is nothing you need",
        )
    if folder is not None:
        message = f"{spec}: the folder has no {RECORD_FILE}, so it is not a run folder"
    else:
        message = f"no run {spec!r} in {shown(settings.outputs)}"
    raise ReprokitError(message, hint=hint)
