"""``reprokit.log`` and ``reprokit.current_run``: silent no-ops outside a launched run.

Imported by training code, so it only needs ``json``, ``os``, ``threading`` and ``time``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    """What a running experiment can learn about its own run.

    A resumed run (``reprokit launch --resume run_N``) also says which run it resumes
    (``resumed_from``), that run's folder (``previous_dir``: where ``main`` finds the
    checkpoints it saved there) and ``start_step``, one past the last step the chain logged
    (0 for a fresh run), where a ``main`` without its own checkpointed step carries on.
    """

    id: str
    dir: Path
    config: Any
    seed: int
    resumed_from: str | None = None
    previous_dir: Path | None = None
    start_step: int = 0

    @property
    def is_resume(self) -> bool:
        return self.resumed_from is not None


# A text value longer than this is cut (with "…"): a note per step, not a log file.
TEXT_LIMIT = 1000


def _text(value: str) -> str:
    """A logged text value (a phase name, a note), credentials scrubbed and length capped;
    stored in metrics.jsonl and shown, never plotted or averaged (readers take numbers)."""
    from reprokit.redact import scrub_text  # only when a text is logged: numbers stay cheap

    value = scrub_text(value)
    return value if len(value) <= TEXT_LIMIT else value[: TEXT_LIMIT - 1] + "…"


def _number(name: str, value: Any) -> Any:
    """Plain JSON numbers from ints, floats, bools, NumPy scalars and 0-d tensors."""
    if isinstance(value, bool | int | float):
        return value
    item = None if isinstance(value, str | bytes) else getattr(value, "item", None)
    if callable(item):
        value = item()
        if isinstance(value, bool | int | float):
            return value
    try:
        if isinstance(value, str | bytes):
            raise TypeError(name)
        return float(value)
    except (TypeError, ValueError):
        from reprokit.errors import ReprokitError

        raise ReprokitError(
            f"reprokit.log: metric {name!r} is not a number: {type(value).__name__}",
            hint="log numbers (int, float, a NumPy scalar or a one-element tensor) or text (str)",
        ) from None


class MetricsWriter:
    """Appends one JSON line per :func:`log` call to ``metrics.jsonl``, one ``os.write`` each.

    Unbuffered: rows used to wait up to a second for a timer flush, and a run that ended
    with ``os._exit`` (or was killed) lost every value logged in its last second. One
    write call per row hands the line to the OS before :func:`log` returns, so only a
    machine crash can lose it (no fsync: that would cost milliseconds per step). The file
    is opened with ``O_APPEND``, so rows from several threads never interleave within a line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(path, flags, 0o644)
        self.last: dict[str, Any] = {}

    def write(self, step: int | None, values: dict[str, Any]) -> None:
        row: dict[str, Any] = {"step": step, "time": time.time()}
        for name, value in values.items():
            row[name] = _text(value) if isinstance(value, str) else _number(name, value)
        # NaN/inf are kept (Python's json reads them back) rather than silently dropped.
        data = (json.dumps(row, allow_nan=True) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                return  # closed: the run is finishing, a late thread's value has no row
            try:
                written = os.write(self._fd, data)
                while written < len(data):  # a short write: the disk is nearly full
                    written += os.write(self._fd, data[written:])
            except OSError as e:
                # Name the file: a bare "[Errno 28]" out of reprokit.log says nothing.
                raise OSError(e.errno, f"cannot write metrics: {e.strerror}", str(self.path)) from e
            for name in values:
                self.last[name] = row[name]

    def close(self) -> None:
        """Close the file; later writes are dropped (never sent to a reused descriptor)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class _Active:
    """The launched run of this process. ``reprokit.log`` is called without a handle, and a
    process runs at most one launched run, so this one slot is the only module state."""

    __slots__ = ("info", "writer")

    def __init__(self) -> None:
        self.writer: MetricsWriter | None = None
        self.info: RunInfo | None = None


_ACTIVE = _Active()


def activate(info: RunInfo | None, writer: MetricsWriter | None) -> None:
    """Used by launch: route :func:`log` to ``writer`` (None: back to no-ops)."""
    _ACTIVE.info = info
    _ACTIVE.writer = writer


def log(step: int | None = None, **values: Any) -> None:
    """Record metric values for this step of the launched run; no-op otherwise.

    Numbers are metrics; a ``str`` (``phase="warmup"``, a note) is stored and shown as
    text, never plotted."""
    writer = _ACTIVE.writer
    if writer is None:
        return
    if step is not None and not isinstance(step, int):
        step = int(step)
    writer.write(step, values)


def current_run() -> RunInfo | None:
    """The launched run this code runs in (id, dir, config, seed), or None outside one."""
    return _ACTIVE.info


def summary_from(result: object, last: dict[str, Any]) -> dict[str, Any]:
    """``summary.json``: the dict main returned (JSON-able values) plus the last logged text
    values it does not name (a phase, a note: so ``show`` and ``runs`` show them), else the
    last logged values."""
    if not isinstance(result, dict):
        return dict(last)
    summary: dict[str, Any] = {}
    for key, value in result.items():
        try:
            summary[str(key)] = _number(str(key), value)
        except Exception:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue  # not JSON-able: left out rather than failing a finished run
            summary[str(key)] = value
    for key, value in last.items():
        if isinstance(value, str) and key not in summary:
            summary[key] = value
    return summary
