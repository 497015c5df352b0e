"""``reprokit.log`` and ``reprokit.current_run``: silent no-ops outside a launched run.

Imported by training code, so it only needs ``json``, ``threading`` and ``time``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Flush buffered rows at least this often (also done by launch's heartbeat thread).
FLUSH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class RunInfo:
    """What a running experiment can learn about its own run."""

    id: str
    dir: Path
    config: Any
    seed: int


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
            hint="log numbers (int, float, a NumPy scalar or a one-element tensor)",
        ) from None


class MetricsWriter:
    """Appends one JSON line per :func:`log` call to ``metrics.jsonl``, buffered.

    Rows are flushed when more than a second has passed since the last flush, by the
    launch heartbeat thread, and on :meth:`close` — so a killed run loses at most ~1 s.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        self._file = open(path, "ab")  # noqa: SIM115 - closed by close()
        self.last: dict[str, Any] = {}

    def write(self, step: int | None, values: dict[str, Any]) -> None:
        row: dict[str, Any] = {"step": step, "time": time.time()}
        for name, value in values.items():
            row[name] = _number(name, value)
        # NaN/inf are kept (Python's json reads them back) rather than silently dropped.
        line = json.dumps(row, allow_nan=True) + "\n"
        with self._lock:
            self._buffer.append(line)
            for name in values:
                self.last[name] = row[name]
            if time.monotonic() - self._last_flush > FLUSH_INTERVAL_S:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._buffer and not self._file.closed:
            self._file.write("".join(self._buffer).encode("utf-8"))
            self._file.flush()
            self._buffer.clear()
        self._last_flush = time.monotonic()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            self._file.close()


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
    """Record metric values (numbers) for this step of the launched run; no-op otherwise."""
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
    """``summary.json``: the dict main returned (JSON-able values), else the last logged values."""
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
    return summary
