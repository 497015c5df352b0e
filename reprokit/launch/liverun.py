"""The machinery of a live run: probes on threads, the run.json being written, the
heartbeat, signal handling, and the outcome recorded when ``main`` ends or raises.

Kept apart from :mod:`reprokit.launch.command`, which decides *what* runs and in which order; this
module knows how a running record is kept readable whatever happens to the process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit import redact
from reprokit.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, ReprokitError
from reprokit.files import write_atomic
from reprokit.interrupts import ENDING as _ENDING, Terminated
from reprokit.record import store

if TYPE_CHECKING:  # only for annotations: a runtime alias costs typing work on every launch
    from types import FrameType

    Handler = Callable[[int, FrameType | None], Any] | int | None


class WriteFailed(BaseException):
    """A file the run writes behind the scenes (``output.log``) could not be written: the
    run is stopped, not left to hang or to run on with its output silently lost.
    A BaseException, so an experiment's ``except Exception`` does not swallow it."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.error = error
        super().__init__(f"{path}: {error.strerror or error}")


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

    def finish(self, **values: Any) -> None:
        """The final write. When the disk is full even a small temp file fails; the record
        is then rewritten in place (its old blocks are reused), so it does not stay
        "running". Raises :class:`ReprokitError` when neither works."""
        with self.lock:
            self.data.update(values)
            try:
                store.write_json(self.path, self.data)
            except OSError as first:
                try:
                    store.overwrite_json(self.path, self.data)
                except OSError:
                    raise ReprokitError(
                        f"{self.path}: cannot write the final record: {first}",
                        hint="the disk is full, or the run folder was deleted or made "
                        "read-only while the run ran; its record still says running",
                    ) from first


class Heartbeat:
    """Rewrites ``heartbeat_at`` in run.json every 10 s.

    Started right after the first record is written, before the experiment is imported:
    a set-up over 60 s (a slow torch import, a large repository's snapshot, hashing big
    inputs) otherwise read as crashed. The heartbeat lives in run.json itself (atomically
    rewritten), so readers need only one file (store.liveness). Metrics need no flushing
    here: each ``reprokit.log`` row is written when it is logged.
    """

    def __init__(self, record: LiveRecord, interval: float = store.HEARTBEAT_INTERVAL_S) -> None:
        self._record = record
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reprokit-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            # The disk filled or the run is closing: main's own writes will tell.
            with contextlib.suppress(OSError, ValueError):
                self._record.update(heartbeat_at=now_iso())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (set-up may fail before it is)
            self._thread.join()


def say(text: str, end: str = "\n") -> None:
    """Print to stderr, flushed, even when main closed or replaced ``sys.stderr`` (then to
    fd 2 directly); never raises: the record must still be finalized, and the terminal
    may be gone (an ssh session that dropped)."""
    try:
        if sys.stderr is None:  # print(file=None) would write to sys.stdout
            raise ValueError("sys.stderr is None")
        print(text, file=sys.stderr, end=end, flush=True)
    except (OSError, ValueError, AttributeError):
        with contextlib.suppress(OSError):
            os.write(2, (text + end).encode("utf-8", "replace"))


def _interrupted(exc: KeyboardInterrupt, *, during_setup: bool) -> dict[str, Any]:
    kind = exc.signame if isinstance(exc, Terminated) else "SIGINT"
    where = " during set-up, before main started" if during_setup else ""
    say(f"reprokit: interrupted ({kind}){where}")
    error: dict[str, Any] = {"type": type(exc).__name__, "message": kind, "traceback_file": None}
    if during_setup:
        error["phase"] = "setup"
    return {"status": "interrupted", "exit_code": EXIT_INTERRUPTED, "error": error}


def write_failure(failure: WriteFailed) -> dict[str, Any]:
    """The outcome of a run stopped because a file could not be written (disk full, a
    file-size limit): failed, with the file and the error, whatever ``main`` did after."""
    error = failure.error
    return {
        "status": "failed",
        "exit_code": EXIT_FAILURE,
        "error": {
            "type": type(error).__name__,
            "message": f"cannot write {failure.path}: {error}",
            "traceback_file": None,
        },
    }


def outcome_of(exc: BaseException, run_dir: Path, *, during_setup: bool) -> dict[str, Any]:
    """Status, exit code and error object for an exception out of setup or main."""
    if isinstance(exc, WriteFailed):
        return write_failure(exc)
    if isinstance(exc, KeyboardInterrupt):
        return _interrupted(exc, during_setup=during_setup)
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return {"status": "completed", "exit_code": EXIT_OK, "error": None}
    import traceback

    tb = exc.__traceback__
    if not during_setup and tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # start at main: launch's own frame is noise to the user
    # A connection error names its URL, token and all: the record keeps it scrubbed.
    text = redact.scrub_text("".join(traceback.format_exception(type(exc), exc, tb)))
    write_atomic(run_dir / store.TRACEBACK_FILE, text.encode("utf-8"))
    if not during_setup:
        say(text, end="")
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    else:
        code = EXIT_FAILURE
    # A connection error names its URL, token and all: the record keeps it scrubbed.
    message = redact.scrub_text(exc.message if isinstance(exc, ReprokitError) else str(exc))
    error = {"type": type(exc).__name__, "message": message, "traceback_file": store.TRACEBACK_FILE}
    if during_setup:
        error["phase"] = "setup"
    return {"status": "failed", "exit_code": code, "error": error}


# Signals that end a run: Ctrl-C, `kill`, and the terminal going away (an ssh session that
# drops sends SIGHUP, which by default killed the run with its record left "running").


class RunSignals:
    """How a live run takes SIGINT, SIGTERM and SIGHUP, in three phases.

    :meth:`defer` (while the run folder is claimed and its tee and heartbeat start): a
    signal is remembered, not acted on. A Ctrl-C there used to raise between the mkdir and
    the first record, leaving a folder without run.json, or a record stuck at "running"
    with ``git: null``. :meth:`arm` (set-up and main): raise the remembered signal at once,
    and any later one as :class:`KeyboardInterrupt`/:class:`Terminated`, so set-up's own
    handler records what was captured. :meth:`quiet` (finalizing): ignored. A signal the
    process was started ignoring (``nohup``, a background job's SIGINT) stays ignored.
    Only the main thread can change handlers; elsewhere every method does nothing.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.failure: WriteFailed | None = None
        self._previous: dict[int, Handler] = {}
        self._armed = False

    def _install(self, handler: Handler) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in _ENDING:
            signum = getattr(signal, name, None)
            if signum is None:
                continue  # no SIGHUP on Windows
            if signum not in self._previous:
                previous = signal.getsignal(signum)
                self._previous[signum] = previous
            if self._previous[signum] == signal.SIG_IGN:
                continue
            signal.signal(signum, handler)

    def defer(self) -> None:
        """Remember SIGINT/SIGTERM/SIGHUP from now on, without raising."""
        self._install(self._remember)

    def arm(self) -> None:
        """Raise ending signals in the main thread; a deferred one is raised now."""
        self._armed = True
        self._install(self._raise)
        if self.failure is not None:
            raise self.failure
        if self.pending is not None:
            self._raise(self.pending, None)

    def hold(self) -> None:
        """From now on remember ending signals instead of raising them: main has ended (or
        set-up has recorded its failure), and one raised between here and :meth:`quiet`
        would skip the finalization, leaving a "running" record."""
        self._armed = False

    def quiet(self) -> None:
        """Ignore ending signals while the record is finalized (a Ctrl-C there would leave
        a "running" record behind)."""
        self._armed = False
        self._install(signal.SIG_IGN)

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`defer`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def fail(self, failure: WriteFailed) -> None:
        """Called from any thread: stop the run's main thread with ``failure``.

        A real signal to the main thread (not a flag it checks): it also wakes a main
        blocked in ``sleep`` or a read. An experiment's own SIGTERM handler sees it as a
        SIGTERM; the outcome is the write failure whatever main does then.
        """
        if self.failure is not None:
            return
        self.failure = failure
        # Only while our handler takes SIGTERM: a launch run off the main thread (no
        # handlers of its own) would otherwise kill the whole process.
        ours = signal.getsignal(signal.SIGTERM) == self._raise
        if self._armed and ours and hasattr(signal, "pthread_kill"):
            ident = threading.main_thread().ident
            if ident is not None:
                signal.pthread_kill(ident, signal.SIGTERM)

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        if self.pending is None:
            self.pending = signum

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        if not self._armed:
            self._remember(signum, frame)
            return
        if self.failure is not None:
            raise self.failure
        if signum == signal.SIGINT:
            raise KeyboardInterrupt()
        raise Terminated(signal.Signals(signum).name)
