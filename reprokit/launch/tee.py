"""Show a run's stdout and stderr live and save them to ``output.log``.

The tee works at the file-descriptor level (``os.pipe`` + a reader thread per stream), so
output from C extensions and child processes is captured too, not only Python's ``print``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

# How long to wait for the readers at the end: a child process that outlives the run and
# still holds the pipe open must not hang the launch.
_JOIN_TIMEOUT_S = 5.0
# A line longer than this (no newline yet) goes to the log in pieces.
_MAX_PARTIAL = 65536


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Tee:
    """Duplicate file descriptors 1 and 2 into a log file while still showing them.

    ``on_error`` is called once, from a reader thread, with the error of the first write
    to the log that fails (a full disk, a file-size limit). The readers then keep showing
    and draining the output: a reader that died on such an error once left the pipe
    unread, and the run hung forever in its next print, with no message.
    """

    def __init__(self, log_path: Path, on_error: Callable[[OSError], None] | None = None) -> None:
        self.log_path = log_path
        self._on_error = on_error
        self.error: OSError | None = None
        self._lock = threading.Lock()
        self._saved: list[tuple[int, int]] = []  # (target fd, saved copy of the original)
        self._threads: list[threading.Thread] = []
        self._log: int | None = None

    def start(self) -> None:
        _flush_std()
        self._log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for fd in (1, 2):
            try:
                saved = os.dup(fd)
            except OSError:
                continue  # no such stream (a daemon): nothing to tee
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(
                target=self._pump, args=(read_end, saved), name=f"reprokit-tee-{fd}", daemon=True
            )
            thread.start()
            self._saved.append((fd, saved))
            self._threads.append(thread)

    def _pump(self, read_end: int, original: int) -> None:
        show = True
        # The log gets whole lines, so stdout and stderr interleave line by line there: an
        # unbuffered print() is two writes ("text", "\n"), and the other stream's reader
        # could otherwise slip its output in between (seen with PYTHONUNBUFFERED=1).
        partial = b""
        try:
            while True:
                data = os.read(read_end, 65536)
                if not data:
                    break
                if show:
                    try:
                        _write_all(original, data)
                    except OSError:
                        show = False  # the terminal/pipe went away; keep logging
                partial += data
                # "\r" ends a progress-bar line; a huge line without either goes as it is.
                cut = max(partial.rfind(b"\n"), partial.rfind(b"\r")) + 1
                if not cut and len(partial) >= _MAX_PARTIAL:
                    cut = len(partial)
                if cut:
                    self._log_bytes(partial[:cut])
                    partial = partial[cut:]
        finally:
            try:
                if partial:
                    self._log_bytes(partial)
            finally:
                os.close(read_end)

    def _log_bytes(self, data: bytes) -> None:
        with self._lock:
            if self._log is None or self.error is not None:
                return
            try:
                _write_all(self._log, data)
                return
            except OSError as e:
                self.error = e
        if self._on_error is not None:
            self._on_error(self.error)

    def stop(self) -> bool:
        """Restore the original streams and wait for everything written to reach the log.

        False when a process the run started still holds the output open after the wait
        (a child that outlives main): what it prints later is shown but not logged.
        """
        _flush_std()
        for fd, saved in self._saved:
            # Replacing fd 1/2 closes our end of the pipe, so the reader sees end-of-file.
            os.dup2(saved, fd)
        # One deadline for both readers: a child holding both streams cost twice the wait.
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        drained = True
        for (_, saved), thread in zip(self._saved, self._threads, strict=True):
            # A child that outlives the run keeps its reader going: closing the saved copy
            # under it would send the child's output to whatever file reuses the number.
            if thread.is_alive():
                drained = False
            else:
                os.close(saved)
        self._saved.clear()
        self._threads.clear()
        with self._lock:
            if self._log is not None:
                os.close(self._log)
                self._log = None
        return drained


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
