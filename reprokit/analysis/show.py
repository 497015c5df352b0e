"""``reprokit show RUN``: one run summarized for a person, or as one JSON object."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

from reprokit.analysis.cells import json_safe
from reprokit.errors import EXIT_OK, ReprokitError
from reprokit.record import store
from reprokit.settings import Settings
from reprokit.tables import format_duration, format_started, format_value, safe_text


def full_record(run_dir: Path) -> dict[str, Any]:
    """run.json plus ``config``, ``summary`` and ``dir`` (:func:`reprokit.analysis.where.read_record`);
    ``status`` is the effective one (``crashed`` for a dead ``running`` run), the stored one
    kept as ``recorded_status``."""
    from reprokit.analysis.where import read_record

    record = read_record(run_dir)
    record["recorded_status"] = record["status"]
    record["status"] = store.effective_status(record)
    return record


def _gib(n: object) -> str:
    try:
        return f"{n / 2**30:.1f} GiB" if isinstance(n, int | float) else "?"
    except OverflowError:  # an int past a float's range, from a hand-edited record
        return f"{n} bytes"


def _git_lines(git: dict[str, Any] | None) -> list[tuple[str, str]]:
    if git is None:
        return [("git", "none (not a git repository)")]
    sha = (git.get("sha") or "(no commits)")[:12]
    branch = git.get("branch") or "detached HEAD"
    if git.get("dirty"):
        counts = [
            f"{len(git.get(key) or [])} {key}"
            for key in ("modified", "staged", "deleted", "untracked", "renamed")
            if git.get(key)
        ]
        state = "dirty: " + ", ".join(counts)
    else:
        state = "clean"
    lines = [("git", f"{sha} on {branch}, {state}")]
    for key in ("modified", "staged", "deleted", "untracked"):
        paths = git.get(key) or []
        for path in paths[:10]:
            lines.append(("", f"  {key:<9}  {path}"))
        if len(paths) > 10:
            lines.append(("", f"  {key:<9}  ... and {len(paths) - 10} more (show --json)"))
    if git.get("snapshot"):
        lines.append(("snapshot", f"{git['snapshot'][:12]} ({git.get('snapshot_ref')})"))
    return lines


def _hardware_line(hw: dict[str, Any] | None) -> str:
    if not hw:
        return "-"
    cpu = hw.get("cpu") or {}
    text = f"{cpu.get('model') or 'cpu ?'}, {cpu.get('logical_cores')} cores, "
    text += _gib(hw.get("memory_bytes"))
    gpus = hw.get("gpus") or []
    if gpus:
        names = ", ".join(f"{g.get('index')}: {g.get('name')}" for g in gpus)
        text += f"; GPUs {names}"
    return text


def _live_status(record: dict[str, Any], *, now: float | None = None) -> str:
    """The status line of a record stored as ``running``: whether it still runs, and why
    a reader thinks so (its process, or its heartbeat)."""
    live = store.liveness({**record, "status": "running"}, now=now)
    silent = format_duration(live.silent_s) if live.silent_s is not None else None
    no_beat = f"no heartbeat for {silent}" if silent else "no valid heartbeat_at"
    pid = record.get("pid")
    if live.reason == "stalled":
        return f"running ({no_beat}; its process, pid {pid}, is alive here: stopped or busy)"
    if live.status == "running":
        return "running"
    if live.reason == "exited":
        why = "the process is gone"
    elif live.reason == "pid-reused":
        why = f"the process is gone; pid {pid} is another process now"
    elif live.reason == "unverified":
        why = f"{no_beat}; pid {pid} is alive, but the record cannot tell if it is the run's"
    else:
        why = f"{no_beat} from {record.get('host')}"
    return f"crashed (recorded as running; {why})"


def _duration(
    record: dict[str, Any], status: str, logged: _Logged | None, *, now: float | None
) -> str:
    """The recorded duration; for a run without one, how long it has run (or ran until its
    last heartbeat, when it crashed)."""
    if record.get("duration_s") is not None:
        return format_duration(record.get("duration_s"))
    started = store.parse_time(record.get("started_at"))
    if started is None:
        return "-"
    if status.startswith("running"):
        current = time.time() if now is None else now
        return f"{format_duration(max(current - started, 0.0))} so far"
    # The heartbeat comes every 10 s; a metric logged after it is later evidence of life.
    beat = store.parse_time(record.get("heartbeat_at"))
    last_row = logged.time if logged is not None else None
    last, what = max(
        ((t, w) for t, w in ((beat, "heartbeat"), (last_row, "logged metric")) if t is not None),
        default=(None, ""),
    )
    if last is None:
        return "-"
    return f"at least {format_duration(max(last - started, 0.0))} (until its last {what})"


class _Logged(NamedTuple):
    """What metrics.jsonl says of a run that wrote no summary: each metric's last value,
    the last step and the time of the last row."""

    last: dict[str, Any]
    step: object
    time: float | None


def _logged(run_dir: Path) -> _Logged:
    last: dict[str, Any] = {}
    step: object = None
    latest: float | None = None
    try:
        rows = store.read_metrics(run_dir)
    except ReprokitError:
        rows = []
    for row in rows:
        step = row.get("step", step)
        if isinstance(t := row.get("time"), int | float):
            latest = float(t) if latest is None else max(latest, float(t))
        last.update((k, v) for k, v in row.items() if k not in ("step", "time"))
    return _Logged(last, step, latest)


def render(record: dict[str, Any], *, now: float | None = None) -> str:
    """The human-readable summary printed by ``reprokit show``."""
    exp = record.get("experiment") or {}
    lines: list[tuple[str, str]] = []
    status = record["status"]
    if record.get("recorded_status", status) == "running":
        status = _live_status(record, now=now)
    elif record.get("exit_code") not in (None, 0):
        status += f" (exit {record['exit_code']})"
    lines.append(("status", status))
    stopped = store.setup_incomplete(record)
    if stopped is not None:
        gaps = f"; not recorded: {', '.join(stopped)}" if stopped else ""
        lines.append(("set-up", f"did not finish: main never started{gaps}"))
    lines.append(("experiment", f"{exp.get('path')} ({exp.get('config_type')})"))
    chain = exp.get("lineage") or []
    if chain:
        lines.append(("lineage", " → ".join(f"{e.get('name')}_{e.get('id')}" for e in chain)))
    flags = [name for name in ("smoke", "deterministic") if record.get(name)]
    if record.get("replay_of"):
        flags.append(f"replay of {record['replay_of']}")
    if isinstance(record.get("resumed_from"), str):
        flags.append(f"resumes {record['resumed_from']}")
    if record.get("checked") is False:
        flags.append("unchecked")
    if flags:
        lines.append(("flags", ", ".join(flags)))
    from reprokit.replay.verify import replay_line

    replayed = replay_line(record)
    if replayed:
        lines.append(("replay", replayed))
    lines.append(("started", f"{format_started(record.get('started_at'))} UTC"))
    # metrics.jsonl is read once, and only for a run that wrote no summary (or duration).
    summary = record.get("summary") or {}
    unfinished = not summary or record.get("duration_s") is None
    logged = _logged(Path(record["dir"])) if unfinished else None
    lines.append(("duration", _duration(record, status, logged, now=now)))
    lines.append(("host", f"{record.get('host')} (pid {record.get('pid')})"))
    lines.append(("seed", f"{record.get('seed')} ({record.get('seed_source')})"))
    lines.extend(_git_lines(record.get("git")))
    lines.append(("hardware", _hardware_line(record.get("hardware"))))
    torch = record.get("torch")
    if torch:
        lines.append(("torch", f"{torch.get('version')} (CUDA {torch.get('cuda') or 'none'})"))
    if record.get("note"):
        lines.append(("note", str(record["note"])))
    error = record.get("error")
    if error:
        where = f" (see {error['traceback_file']})" if error.get("traceback_file") else ""
        lines.append(("error", f"{error.get('type')}: {error.get('message')}{where}"))
    if summary:
        lines.append(("summary", ""))
    elif logged is not None:
        # A run still going, or killed before it could write summary.json: what it logged
        # so far is the best evidence there is.
        summary, step = logged.last, logged.step
        where = f" at step {step}" if step is not None else ""
        lines.append(("summary", f"(none written; last logged values{where})" if summary else "-"))
    for key, value in summary.items():
        lines.append((f"  {key}", format_value(value)))
    # Notes, file names and summary keys come from the record: shown escaped (an ANSI
    # escape in a note once rewrote the terminal).
    lines = [(safe_text(label), safe_text(value)) for label, value in lines]
    width = max(len(label) for label, _ in lines)
    body = [f"{label.ljust(width)}  {value}".rstrip() for label, value in lines]
    try:
        folder = os.path.relpath(record["dir"])
    except ValueError:
        folder = record["dir"]
    return f"{safe_text(record['id'])}  {safe_text(folder)}\n" + "\n".join(body) + "\n"


def show(run: str, *, settings: Settings, as_json: bool = False) -> int:
    """Print one run: a readable summary, or the whole record as one JSON object."""
    record = full_record(store.resolve_run(run, settings))
    if as_json:
        # Strict JSON, as `runs --format json` writes it: a diverged metric reads "nan" or
        # "inf" (bare NaN, which json.dumps writes by default, fails strict parsers: jq, JS).
        print(json.dumps(json_safe(record), indent=1, sort_keys=True, default=str, allow_nan=False))
    else:
        print(render(record), end="")
    return EXIT_OK
