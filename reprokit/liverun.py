"""The machinery of a live run: probes on threads, the run.json being written, the
heartbeat, signal handling, and the outcome recorded when ``main`` ends or raises.

Kept apart from :mod:`reprokit.launch`, which decides *what* runs and in which order; this
module knows how a running record is kept readable whatever happens to the process.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit import metrics, redact, store
from reprokit.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, ReprokitError

if TYPE_CHECKING:  # only for annotations: a runtime alias costs typing work on every launch
    from types import FrameType

    Handler = Callable[[int, FrameType | None], Any] | int | None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds like Ctrl-C."""


def now_iso() -> str:
    """The current UTC time as the record writes it (ISO 8601 with offset)."""
    return datetime.now(UTC).isoformat()


class LiveRecord:
    """The run.json of a live run: one writer at a time (main thread and heartbeat)."""

    def __init__(self, run_dir: Path, data: dict[str, Any]) -> None:
        self.path = run_dir / store.RECORD_FILE
        self.data = data
        self.lock = threading.Lock()

    def set(self, **values: Any) -> None:
        """Change values without writing: the next :meth:`update` (or heartbeat) writes them.
        Under the lock, so the heartbeat never serializes a dict while it changes."""
        with self.lock:
            self.data.update(values)

    def update(self, **values: Any) -> None:
        with self.lock:
            self.data.update(values)
            store.write_json(self.path, self.data)


class Heartbeat:
    """Rewrites ``heartbeat_at`` in run.json every 10 s, and flushes metrics every second
    once a writer is attached.

    Started right after the first record is written, before the experiment is imported:
    a set-up over 60 s (a slow torch import, a large repository's snapshot, hashing big
    inputs) otherwise read as crashed. The writer only exists once set-up is done, hence
    :meth:`attach`. The heartbeat lives in run.json itself (atomically rewritten), so
    readers need only one file (store.liveness).
    """

    def __init__(
        self,
        record: LiveRecord,
        writer: metrics.MetricsWriter | None = None,
        interval: float = store.HEARTBEAT_INTERVAL_S,
    ) -> None:
        self._record = record
        self._writer = writer
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reprokit-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def attach(self, writer: metrics.MetricsWriter) -> None:
        """Flush ``writer`` every second from now on (one attribute store: no lock needed)."""
        self._writer = writer

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(metrics.FLUSH_INTERVAL_S):
            try:
                writer = self._writer
                if writer is not None:
                    writer.flush()
                if time.monotonic() - last_beat >= self._interval:
                    last_beat = time.monotonic()
                    self._record.update(heartbeat_at=now_iso())
            except (OSError, ValueError):
                pass  # the disk filled or the run is closing; main's own writes will tell

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def outcome_of(exc: BaseException, run_dir: Path, *, during_setup: bool) -> dict[str, Any]:
    """Status, exit code and error object for an exception out of setup or main."""
    if isinstance(exc, KeyboardInterrupt):
        kind = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        print(f"reprokit: interrupted ({kind})", file=sys.stderr)
        return {
            "status": "interrupted",
            "exit_code": EXIT_INTERRUPTED,
            "error": {"type": type(exc).__name__, "message": kind, "traceback_file": None},
        }
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return {"status": "completed", "exit_code": EXIT_OK, "error": None}
    import traceback

    tb = exc.__traceback__
    if not during_setup and tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # start at main: launch's own frame is noise to the user
    # A connection error names its URL, token and all: the record keeps it scrubbed.
    text = redact.scrub_text("".join(traceback.format_exception(type(exc), exc, tb)))
    store.write_text(run_dir / store.TRACEBACK_FILE, text)
    if not during_setup:
        print(text, file=sys.stderr, end="")
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    else:
        code = EXIT_FAILURE
    message = redact.scrub_text(exc.message if isinstance(exc, ReprokitError) else str(exc))
    return {
        "status": "failed",
        "exit_code": code,
        "error": {
            "type": type(exc).__name__,
            "message": message,
            "traceback_file": store.TRACEBACK_FILE,
        },
    }


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def install_sigterm() -> Handler:
    """Make SIGTERM unwind the main thread like Ctrl-C; returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def ignore_signals() -> Handler:
    """Ignore SIGINT and SIGTERM while the record is finalized; the previous SIGINT handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def restore_signals(term: Handler, interrupt: Handler) -> None:
    """Put back the handlers that :func:`install_sigterm`/:func:`ignore_signals` replaced."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, term if term is not None else signal.SIG_DFL)
    signal.signal(signal.SIGINT, interrupt if interrupt is not None else signal.default_int_handler)
